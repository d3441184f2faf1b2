//! The smallest story: three origins, round robin, counted at the origins.

use switchyard_tests::{Origin, TestProxy, pool_config};

#[tokio::test]
async fn round_robin_over_three_origins() {
    let (a, b, c) = (
        Origin::start("a").await,
        Origin::start("b").await,
        Origin::start("c").await,
    );
    let proxy = TestProxy::start(&pool_config(&[&a, &b, &c], "round_robin", "")).await;
    let mut bodies = Vec::new();
    for _ in 0..6 {
        let r = proxy.get("/").await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("via"), "1.1 switchyard");
        bodies.push(r.body);
    }
    assert_eq!(bodies, ["a", "b", "c", "a", "b", "c"]);
    assert_eq!((a.hits(), b.hits(), c.hits()), (2, 2, 2));
}
