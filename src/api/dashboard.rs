//! The dashboard: one page, its script and its style sheet, compiled into the binary so it
//! works offline and always matches the API it talks to. The page itself holds no data: it
//! asks for a bearer token and reads everything through the API.

use actix_web::{HttpResponse, web};

use super::error::ApiError;

const INDEX: &str = include_str!("dashboard/index.html");
const SCRIPT: &str = include_str!("dashboard/app.js");
const STYLE: &str = include_str!("dashboard/app.css");

/// Only the page's own files: no inline script, no other origin.
const POLICY: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; \
                      frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

fn page(body: &'static str, content_type: &str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header(("Content-Security-Policy", POLICY))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header(("Referrer-Policy", "no-referrer"))
        .insert_header(("Cache-Control", "no-cache"))
        .body(body)
}

pub async fn index() -> HttpResponse {
    page(INDEX, "text/html; charset=utf-8")
}

pub async fn asset(file: web::Path<String>) -> Result<HttpResponse, ApiError> {
    match file.as_str() {
        "app.js" => Ok(page(SCRIPT, "text/javascript; charset=utf-8")),
        "app.css" => Ok(page(STYLE, "text/css; charset=utf-8")),
        other => Err(ApiError::NotFound(format!("no asset {other:?}"))),
    }
}
