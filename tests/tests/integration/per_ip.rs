//! `max_connections_per_ip`: open connections from one address, idle
//! keep-alive ones included; the one over the limit gets 429 and is closed.

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use std::time::Duration;
use switchyard_tests::{
    Origin, TestProxy, http1_connect, pool_config, raw_until_close, read_answer, status_of,
    with_listener_lines,
};

fn get() -> Request<Full<Bytes>> {
    Request::get("/")
        .header("host", "a")
        .body(Full::default())
        .expect("request")
}

#[tokio::test]
async fn the_connection_over_the_per_ip_limit_gets_429() {
    let o = Origin::start("o").await;
    let cfg = with_listener_lines(
        &pool_config(&[&o], "round_robin", ""),
        "max_connections_per_ip = 2",
    );
    let proxy = TestProxy::start(&cfg).await;
    let mut first = http1_connect(proxy.addr).await;
    let mut second = http1_connect(proxy.addr).await;
    for c in [&mut first, &mut second] {
        assert_eq!(
            read_answer(c.send_request(get()).await.expect("answer"))
                .await
                .status,
            200
        );
    }
    // Both stay open (idle keep-alive): a third is refused.
    let (answer, closed) = raw_until_close(
        proxy.addr,
        b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(status_of(&answer), 429, "{answer}");
    assert!(answer.contains("retry-after: 1"), "{answer}");
    assert!(closed);
    assert_eq!(o.hits(), 2);
    // Closing one frees its slot.
    drop(first);
    let mut served = false;
    for _ in 0..100 {
        let (answer, _) = raw_until_close(
            proxy.addr,
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
            Duration::from_secs(5),
        )
        .await;
        if status_of(&answer) == 200 {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await; // the proxy notices the close asynchronously
    }
    assert!(served, "a slot was not freed");
    assert_eq!(o.hits(), 3);
}
