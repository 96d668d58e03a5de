//! Toxiproxy 2.x's HTTP API on axum: the same paths, methods, status codes, JSON shapes and
//! error bodies, plus `GET /proxies/{name}/connections` with the reports.

use crate::api::{self, ApiError, ProxyInput};
use crate::proxy::Registry;
use crate::toxics::{Needs, Toxic};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;
use std::sync::{Arc, Mutex};

pub type Shared = Arc<Mutex<Registry>>;

/// The API's routes.
pub fn router(reg: Shared) -> Router {
    Router::new()
        .route("/reset", post(reset))
        .route("/proxies", get(proxy_index).post(proxy_create))
        .route("/populate", post(populate))
        .route(
            "/proxies/{proxy}",
            get(proxy_show)
                .post(proxy_update)
                .patch(proxy_update)
                .delete(proxy_delete),
        )
        .route(
            "/proxies/{proxy}/toxics",
            get(toxic_index).post(toxic_create),
        )
        .route(
            "/proxies/{proxy}/toxics/{toxic}",
            get(toxic_show)
                .post(toxic_update)
                .patch(toxic_update)
                .delete(toxic_delete),
        )
        .route("/proxies/{proxy}/connections", get(connections))
        .route("/version", get(version))
        .fallback(not_found)
        .layer(middleware::from_fn(no_browsers))
        .with_state(reg)
}

/// Toxiproxy refuses browsers (a page could otherwise drive a local proxy): 403.
async fn no_browsers(req: Request, next: Next) -> Response {
    let ua = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if ua.starts_with("Mozilla/") {
        return text(StatusCode::FORBIDDEN, "User agent not allowed\n");
    }
    next.run(req).await
}

fn text(status: StatusCode, body: &str) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body.to_string(),
    )
        .into_response()
}

fn json(status: StatusCode, v: &impl serde::Serialize) -> Response {
    raw(status, serde_json::to_string(v).unwrap_or_default())
}

/// A JSON body already written (field order matters to readers of Toxiproxy's output).
fn raw(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // Go's http.Error: text/plain, the JSON and a newline.
        text(
            StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            &self.body(),
        )
    }
}

fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

async fn not_found() -> Response {
    text(StatusCode::NOT_FOUND, "404 page not found\n")
}

fn body_json(b: &Bytes) -> Result<Value, ApiError> {
    if b.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_body("EOF"));
    }
    serde_json::from_slice(b).map_err(ApiError::bad_body)
}

fn lock(reg: &Shared) -> std::sync::MutexGuard<'_, Registry> {
    match reg.lock() {
        Ok(g) => g,
        Err(e) => e.into_inner(),
    }
}

async fn proxy_index(State(reg): State<Shared>) -> Response {
    let r = lock(&reg);
    let m: std::collections::BTreeMap<&String, _> =
        r.proxies.iter().map(|(k, p)| (k, p.json())).collect();
    json(StatusCode::OK, &m)
}

async fn proxy_create(State(reg): State<Shared>, b: Bytes) -> Result<Response, ApiError> {
    let input = ProxyInput::for_create(&body_json(&b)?)?;
    let j = lock(&reg).create(&input)?;
    Ok(raw(StatusCode::CREATED, j))
}

async fn populate(State(reg): State<Shared>, b: Bytes) -> Result<Response, ApiError> {
    let list = ProxyInput::list(&body_json(&b)?)?;
    let (proxies, err) = lock(&reg).populate(&list);
    let list = format!("[{}]", proxies.join(","));
    Ok(match err {
        None => raw(StatusCode::CREATED, format!("{{\"proxies\":{list}}}")),
        Some(e) => raw(
            StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            format!(
                "{{\"error\":{},\"status\":{},\"proxies\":{list}}}",
                Value::String(e.message),
                e.status
            ),
        ),
    })
}

async fn proxy_show(
    State(reg): State<Shared>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let r = lock(&reg);
    let p = r.proxies.get(&name).ok_or_else(ApiError::proxy_not_found)?;
    Ok(json(StatusCode::OK, &p.json()))
}

async fn proxy_update(
    State(reg): State<Shared>,
    Path(name): Path<String>,
    b: Bytes,
) -> Result<Response, ApiError> {
    let mut r = lock(&reg);
    if !r.proxies.contains_key(&name) {
        return Err(ApiError::proxy_not_found());
    }
    let j = r.update(&name, &body_json(&b)?)?;
    Ok(raw(StatusCode::OK, j))
}

async fn proxy_delete(
    State(reg): State<Shared>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    lock(&reg).delete(&name)?;
    Ok(no_content())
}

async fn reset(State(reg): State<Shared>) -> Result<Response, ApiError> {
    lock(&reg).reset()?;
    Ok(no_content())
}

async fn toxic_index(
    State(reg): State<Shared>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let r = lock(&reg);
    let p = r.proxies.get(&name).ok_or_else(ApiError::proxy_not_found)?;
    Ok(json(StatusCode::OK, &p.toxics_listed()))
}

async fn toxic_create(
    State(reg): State<Shared>,
    Path(name): Path<String>,
    b: Bytes,
) -> Result<Response, ApiError> {
    let mut r = lock(&reg);
    let net_admin = r.env.net_admin;
    let p = r
        .proxies
        .get_mut(&name)
        .ok_or_else(ApiError::proxy_not_found)?;
    let t = Toxic::from_json(&body_json(&b)?)?;
    if p.toxics.iter().any(|x| x.name == t.name) {
        return Err(ApiError::toxic_exists());
    }
    if t.kind.needs() == Needs::NetAdmin && !net_admin {
        return Err(ApiError::new(
            format!(
                "{} needs CAP_NET_ADMIN (TCP_REPAIR): run tcpmortem proxy as root or with that capability",
                t.kind.name()
            ),
            400,
        ));
    }
    let mut all = p.toxics.clone();
    all.push(t.clone());
    p.set_toxics(all);
    Ok(json(StatusCode::OK, &t))
}

async fn toxic_show(
    State(reg): State<Shared>,
    Path((name, toxic)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let r = lock(&reg);
    let p = r.proxies.get(&name).ok_or_else(ApiError::proxy_not_found)?;
    let t = p
        .toxics
        .iter()
        .find(|t| t.name == toxic)
        .ok_or_else(ApiError::toxic_not_found)?;
    Ok(json(StatusCode::OK, t))
}

async fn toxic_update(
    State(reg): State<Shared>,
    Path((name, toxic)): Path<(String, String)>,
    b: Bytes,
) -> Result<Response, ApiError> {
    let mut r = lock(&reg);
    let p = r
        .proxies
        .get_mut(&name)
        .ok_or_else(ApiError::proxy_not_found)?;
    let i = p
        .toxics
        .iter()
        .position(|t| t.name == toxic)
        .ok_or_else(ApiError::toxic_not_found)?;
    let t = p.toxics[i].patched(&body_json(&b)?)?;
    let mut all = p.toxics.clone();
    all[i] = t.clone();
    p.set_toxics(all);
    Ok(json(StatusCode::OK, &t))
}

async fn toxic_delete(
    State(reg): State<Shared>,
    Path((name, toxic)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let mut r = lock(&reg);
    let p = r
        .proxies
        .get_mut(&name)
        .ok_or_else(ApiError::proxy_not_found)?;
    if !p.toxics.iter().any(|t| t.name == toxic) {
        return Err(ApiError::toxic_not_found());
    }
    let all = p
        .toxics
        .iter()
        .filter(|t| t.name != toxic)
        .cloned()
        .collect();
    p.set_toxics(all);
    Ok(no_content())
}

async fn connections(
    State(reg): State<Shared>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let book = {
        let r = lock(&reg);
        r.proxies
            .get(&name)
            .ok_or_else(ApiError::proxy_not_found)?
            .book
            .clone()
    };
    Ok(json(StatusCode::OK, &book.list()))
}

async fn version() -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json;charset=utf-8")],
        Body::from(format!("{{\"version\": \"{}\"}}\n", api::version())),
    )
        .into_response()
}
