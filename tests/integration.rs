//! Integration tests: the real `mcpgw` binary against real upstreams on loopback. One test
//! binary (this file and its submodules) so it links once.
#![allow(unreachable_pub)] // test helpers are shared between submodules, not exported

mod integration {
    pub mod clients;
    pub mod http_api;
    pub mod identity_provider;
    pub mod peers;
    pub mod util;

    mod access;
    mod auth;
    mod bad_input;
    mod bridge;
    mod call;
    mod caller_state;
    mod check;
    mod client_requests;
    mod conformance;
    mod container;
    mod examples;
    mod federation;
    mod forwarding;
    mod jsonrpc_http;
    mod lifecycle;
    mod matrix;
    mod notifications;
    mod openapi;
    mod policy;
    mod reload;
    mod rest;
    mod resume;
    mod sdk;
    mod shaping;
    mod sse_serving;
    mod stateless;
    mod stdio_serving;
    mod subscriptions;
    mod tasks;
    mod tls;
    mod upstream_transports;
    mod websocket_serving;
}
