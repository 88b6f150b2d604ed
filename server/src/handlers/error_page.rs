//! Error responses: the location's `error_page` file when one is configured
//! and servable (sent with the original status), else the built-in page.

use super::cache::FileCache;
use super::static_files::{self, FileRequest};
use crate::http::path::normalize;
use crate::http::response::Reply;
use crate::site::Site;

/// The response for an error `status`. `at` is the routed (server,
/// location); without it the listener's server for `host` and its `/`
/// location are used.
pub fn error_reply(
    site: &Site,
    cache: &FileCache,
    status: u16,
    listener: usize,
    host: Option<&str>,
    at: Option<(usize, usize)>,
) -> Reply {
    let at = at.unwrap_or_else(|| site.config.route(listener, host, "/"));
    let mut reply = custom_page(site, cache, status, listener, host, at)
        .unwrap_or_else(|| Reply::error(status));
    // As nginx: after these the connection is not kept alive.
    if closes_connection(status) {
        reply.close = true;
    }
    reply
}

/// Whether nginx closes the connection after an error `status` (the request
/// may not have been read whole, or the client is misbehaving).
pub fn closes_connection(status: u16) -> bool {
    matches!(status, 400 | 408 | 413 | 414 | 431 | 500 | 501 | 505)
}

fn custom_page(
    site: &Site,
    cache: &FileCache,
    status: u16,
    listener: usize,
    host: Option<&str>,
    at: (usize, usize),
) -> Option<Reply> {
    let uri = site.location(at)?.error_page(status)?;
    let path = normalize(uri.as_bytes()).ok()?;
    let page_at = site.config.route(listener, host, &path);
    let location = site.location(page_at)?;
    let req = FileRequest { path: &path, ..FileRequest::default() };
    let mut reply = static_files::serve(&req, location, site.base(page_at), cache).ok()?;
    if reply.status != 200 {
        return None;
    }
    reply.status = status;
    reply.validators = None;
    Some(reply)
}
