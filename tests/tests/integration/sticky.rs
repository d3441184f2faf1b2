//! Sticky sessions (`sticky = { cookie, max_age }`): the first answer pins
//! the client with an opaque cookie; the cookie keeps it on one server —
//! through a drain — and a down or disabled server re-pins it elsewhere.

use bytes::Bytes;
use http_body_util::Full;
use std::sync::atomic::Ordering;
use std::time::Duration;
use switchyard::balance::ServerState;
use switchyard_tests::{Answer, Origin, TestProxy, checked, eventually, pool_config};

async fn get_with_cookie(proxy: &TestProxy, cookie: &str) -> Answer {
    let req = http::Request::get("/")
        .header("cookie", cookie)
        .body(Full::<Bytes>::default())
        .expect("request");
    proxy.send(req).await
}

/// `SERVERID=<id>` from a Set-Cookie value.
fn pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap_or("").to_string()
}

#[tokio::test]
async fn a_cookie_pins_fifty_requests_to_one_server_and_draining_keeps_them() {
    let o = [
        Origin::start("a").await,
        Origin::start("b").await,
        Origin::start("c").await,
    ];
    let cfg = pool_config(
        &[&o[0], &o[1], &o[2]],
        "round_robin",
        "sticky = { cookie = \"SERVERID\", max_age = \"1h\" }",
    );
    let proxy = TestProxy::start(&cfg).await;

    let first = proxy.get("/").await;
    assert_eq!(first.status, 200);
    let set = first.header("set-cookie").to_string();
    let id = pair(&set);
    assert!(
        id.starts_with("SERVERID=") && id.len() == "SERVERID=".len() + 16,
        "{set}"
    );
    assert_eq!(
        set,
        format!("{id}; Path=/; Max-Age=3600; HttpOnly; SameSite=Lax"),
        "no Secure on a plain listener"
    );
    assert!(
        !set.contains("127.0.0.1"),
        "the cookie must not name the address: {set}"
    );
    let home = first.body.clone();

    for _ in 0..50 {
        let a = get_with_cookie(&proxy, &format!("theme=dark; {id}")).await;
        assert_eq!(a.body, home);
        assert_eq!(
            a.header("set-cookie"),
            "",
            "an honoured cookie is not set again"
        );
    }
    let hits: Vec<usize> = o.iter().map(Origin::hits).collect();
    let home_i = o.iter().position(|x| x.name == home).expect("home origin");
    for (i, h) in hits.iter().enumerate() {
        assert_eq!(*h, if i == home_i { 51 } else { 0 }, "{hits:?}");
    }

    // Draining: sticky clients stay, new clients go elsewhere.
    let pool = proxy.pool("app");
    pool.servers[home_i].set_state(ServerState::Draining);
    for _ in 0..10 {
        assert_eq!(get_with_cookie(&proxy, &id).await.body, home);
    }
    for _ in 0..6 {
        let fresh = proxy.get("/").await;
        assert_ne!(fresh.body, home, "a draining server took a new client");
        assert_ne!(pair(fresh.header("set-cookie")), id);
    }

    // Disabled: the client is re-pinned with a fresh cookie.
    pool.servers[home_i].set_state(ServerState::Disabled);
    let moved = get_with_cookie(&proxy, &id).await;
    assert_eq!(moved.status, 200);
    assert_ne!(moved.body, home);
    let new_id = pair(moved.header("set-cookie"));
    assert!(new_id.starts_with("SERVERID=") && new_id != id, "{new_id}");
    assert_eq!(get_with_cookie(&proxy, &new_id).await.body, moved.body);
    assert_eq!(o[home_i].hits(), 61);
}

#[tokio::test]
async fn when_the_pinned_server_goes_down_the_request_succeeds_elsewhere_with_a_new_cookie() {
    let (sick, down) = checked("sick").await;
    let well = Origin::start("well").await;
    let cfg = pool_config(
        &[&sick, &well],
        "round_robin",
        "sticky = { cookie = \"SRV\" }\nhealth = { path = \"/health\", interval = \"50ms\", timeout = \"1s\", rise = 1, fall = 1 }",
    );
    let proxy = TestProxy::start(&cfg).await;
    // Round robin starts at the first server: "sick" pins this client.
    let first = proxy.get("/").await;
    assert_eq!(first.body, "sick");
    let id = pair(first.header("set-cookie"));
    assert!(
        !first.header("set-cookie").contains("Max-Age"),
        "no max_age: session cookie"
    );
    assert_eq!(get_with_cookie(&proxy, &id).await.body, "sick");

    down.store(true, Ordering::Relaxed);
    let pool = proxy.pool("app");
    assert!(
        eventually(Duration::from_secs(5), || !pool.servers[0].is_healthy()).await,
        "the failing check did not take the server down"
    );
    let moved = get_with_cookie(&proxy, &id).await;
    assert_eq!((moved.status, moved.body.as_str()), (200, "well"));
    let new_id = pair(moved.header("set-cookie"));
    assert!(new_id.starts_with("SRV=") && new_id != id, "{new_id}");
    for _ in 0..5 {
        assert_eq!(get_with_cookie(&proxy, &new_id).await.body, "well");
    }
}
