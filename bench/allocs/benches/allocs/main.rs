//! Benchmark, not a test: heap allocations per request proxied by
//! switchyard on the plain HTTP/1 path (docs/PERFORMANCE.md, "Allocations
//! and memory").
//!
//! 1. [`origin::Origin`] (the backend) and [`client::Client`] allocate
//!    nothing per request, so every allocation counted is the proxy's; the
//!    harness check proves it before the proxy starts, by counting the
//!    client against the origins directly (it must be 0);
//! 2. the proxy is started in-process through the library
//!    ([`switchyard::server::Server::start`]) on a current-thread runtime of
//!    its own thread, as `workers = 1` runs it, with [`CONFIG`] (or `-c`);
//! 3. per variant (one kept-alive client connection; a fresh client
//!    connection per request), `-w` warm-up requests, then `-n` requests
//!    counted by `dhat::Alloc`, the global allocator, through
//!    `dhat::HeapStats` (a `realloc` counts as one allocation, like a
//!    `malloc`);
//! 4. it prints allocations and bytes allocated per request;
//! 5. then it opens `-k` more client connections, one request each, leaves
//!    them idle and prints the heap the proxy holds per idle connection
//!    (bytes still allocated, from the allocator's point of view: RSS adds
//!    the allocator's own overhead, see bench/idle-mem.sh).
//!
//! Run it with `bench/allocs.sh` or
//! `cargo bench -p switchyard-allocs --bench allocs -- [-n N] [-w N] [-k N] [-c FILE] [--sites DIR]`.

mod client;
mod origin;

use anyhow::{Context, bail};
use client::Client;
use origin::{Origin, Sequential};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;
use switchyard::config::Config;
use switchyard::server::Server;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

/// The proxy's config: bench/switchyard.toml with the one origin;
/// `{origin}` becomes its address. A `-c` file must also name its listener
/// `bench`.
const CONFIG: &str = r#"
workers = 1

[[listener]]
name = "bench"
bind = "127.0.0.1:0"

[[route]]
pool = "be"

[pool.be]
balance = "round_robin"
keepalive = 256
servers = [{ address = "{origin}" }]
"#;

/// How long idle connections are left before the proxy's heap is read:
/// the proxy may still be finishing a request (returning its upstream
/// connection to the pool) after the client has the answer.
const SETTLE: Duration = Duration::from_millis(300);

const USAGE: &str = "\
usage: allocs [-n REQUESTS] [-w WARMUP] [-k IDLE] [-c CONFIG] [--sites DIR]
  -n REQUESTS   requests counted per variant (default 10000)
  -w WARMUP     requests before counting, per variant (default 1000)
  -k IDLE       idle keep-alive connections held for the heap per idle
                connection (default 1000; needs 2 x IDLE open files)
  -c CONFIG     proxy config instead of the built-in one; `{origin}` is
                replaced by the origin's address; listener `bench`, port 0
  --sites DIR   also write DIR/dhat-keepalive.json and DIR/dhat-fresh.json:
                the counted allocations by call stack, for DHAT's viewer
                (dh_view.html)";

/// The command line.
struct Args {
    requests: u64,
    warmup: u64,
    idle: usize,
    config: Option<PathBuf>,
    sites: Option<PathBuf>,
}

impl Args {
    fn parse() -> anyhow::Result<Option<Args>> {
        let mut args = Args {
            requests: 10_000,
            warmup: 1_000,
            idle: 1_000,
            config: None,
            sites: None,
        };
        let mut it = std::env::args().skip(1);
        while let Some(a) = it.next() {
            let mut value = || it.next().with_context(|| format!("{a} needs a value"));
            match a.as_str() {
                // `cargo bench` passes it to `harness = false` targets.
                "--bench" => {}
                "-n" => args.requests = value()?.parse().context("-n")?,
                "-w" => args.warmup = value()?.parse().context("-w")?,
                "-k" => args.idle = value()?.parse().context("-k")?,
                "-c" => args.config = Some(value()?.into()),
                "--sites" => args.sites = Some(value()?.into()),
                "-h" | "--help" => return Ok(None),
                other => bail!("unknown argument {other:?}\n{USAGE}"),
            }
        }
        if args.requests == 0 || args.idle == 0 {
            bail!("-n and -k must be at least 1");
        }
        Ok(Some(args))
    }
}

/// What one variant's counted requests allocated.
struct Count {
    /// Allocations (`alloc` and `realloc` calls).
    blocks: u64,
    /// Bytes they asked for.
    bytes: u64,
    /// Connections the origin accepted meanwhile (0: the upstream
    /// connections were reused, so no accept was counted).
    upstream_connects: u64,
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("allocs: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let Some(args) = Args::parse()? else {
        println!("{USAGE}");
        return Ok(());
    };
    // As `main.rs` does: the proxy's diagnostics go through it.
    switchyard::logging::init();
    let origin = Origin::start().context("origin")?;
    check_harness(&args, &origin)?;

    let template = match &args.config {
        Some(p) => std::fs::read_to_string(p).with_context(|| format!("{}", p.display()))?,
        None => CONFIG.to_string(),
    };
    let config = template.replace("{origin}", &origin.addr.to_string());
    let proxy = start_proxy(&config, args.config.as_deref())?;

    println!(
        "allocs: switchyard {} in-process, 1 runtime thread; GET / answered `200`, 2-byte body; \
         {} warm-up + {} counted requests per variant; dhat counting allocator \
         (a realloc counts as an allocation)",
        env!("CARGO_PKG_VERSION"),
        args.warmup,
        args.requests
    );
    let mut client = Client::new(proxy);
    let keep_alive = measure(&args, &origin, "keepalive", || client.keep_alive())?;
    report("keep-alive client connection:       ", &args, &keep_alive);
    client.close();
    let fresh = measure(&args, &origin, "fresh", || client.fresh())?;
    report("fresh client connection per request:", &args, &fresh);
    let idle = measure_idle(&args, &mut client)?;
    println!(
        "idle keep-alive client connections:  {:8.1} bytes of heap held per connection \
         ({:.2} blocks; {} connections, 1 request each)",
        idle.bytes, idle.blocks, args.idle
    );
    Ok(())
}

/// Counts the client against the origins alone: any allocation here would
/// be counted as the proxy's later, so there must be none.
fn check_harness(args: &Args, origin: &Origin) -> anyhow::Result<()> {
    let quiet = Args {
        sites: None,
        config: None,
        ..*args
    };
    let mut direct = Client::new(origin.addr);
    let keep_alive = measure(&quiet, origin, "", || direct.keep_alive())?;
    direct.close();
    let sequential = Sequential::start().context("sequential origin")?;
    let mut direct = Client::new(sequential.addr);
    let fresh = measure(&quiet, origin, "", || direct.fresh())?;
    println!(
        "harness alone (client -> origin, no proxy): {} allocations in {} keep-alive requests, \
         {} in {} fresh-connection requests",
        keep_alive.blocks, args.requests, fresh.blocks, args.requests
    );
    if keep_alive.blocks + fresh.blocks > 0 {
        bail!("the client or the origin allocates: the proxy's counts would be wrong");
    }
    Ok(())
}

/// Starts the proxy on a thread of its own, like `switchyard run` with
/// `workers = 1`; its listener `bench`'s address.
fn start_proxy(config: &str, path: Option<&Path>) -> anyhow::Result<SocketAddr> {
    let name = path.unwrap_or(Path::new("allocs.toml"));
    let cfg = Config::parse(config, name).context("proxy config")?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("proxy runtime")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("proxy".into())
        .spawn(move || {
            rt.block_on(async move {
                match Server::start(cfg).await {
                    Ok(server) => {
                        let _ = tx.send(server.addr("bench").context("no listener `bench`"));
                        // Serves until the process exits.
                        std::future::pending::<()>().await;
                        drop(server);
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e).context("proxy start"));
                    }
                }
            })
        })
        .context("proxy thread")?;
    rx.recv().context("proxy thread")?
}

/// `-w` uncounted requests, then `-n` counted ones. With `--sites`, the
/// counted allocations' call stacks go to `dhat-{name}.json`.
fn measure(
    args: &Args,
    origin: &Origin,
    name: &str,
    mut request: impl FnMut() -> std::io::Result<()>,
) -> anyhow::Result<Count> {
    for i in 0..args.warmup {
        request().with_context(|| format!("{name} warm-up request {i}"))?;
    }
    let profiler = match &args.sites {
        // Deep enough stacks to reach switchyard's frames through hyper's.
        Some(dir) => dhat::Profiler::builder()
            .file_name(dir.join(format!("dhat-{name}.json")))
            .trim_backtraces(Some(40))
            .build(),
        None => dhat::Profiler::builder().testing().build(),
    };
    let accepted = origin.accepted();
    let before = dhat::HeapStats::get();
    let mut failed = None;
    for i in 0..args.requests {
        if let Err(e) = request() {
            failed = Some((i, e));
            break;
        }
    }
    let after = dhat::HeapStats::get();
    drop(profiler);
    if let Some((i, e)) = failed {
        return Err(e).with_context(|| format!("{name} request {i}"));
    }
    Ok(Count {
        blocks: after.total_blocks - before.total_blocks,
        bytes: after.total_bytes - before.total_bytes,
        upstream_connects: origin.accepted() - accepted,
    })
}

/// Heap held per idle client connection, as the allocator sees it.
struct Idle {
    bytes: f64,
    blocks: f64,
}

/// Opens `-k` connections through the proxy, one answered request each,
/// and reads how much more heap is live while they idle.
fn measure_idle(args: &Args, client: &mut Client) -> anyhow::Result<Idle> {
    let mut held = Vec::with_capacity(args.idle);
    let profiler = dhat::Profiler::builder().testing().build();
    let before = dhat::HeapStats::get();
    let mut failed = None;
    for i in 0..args.idle {
        if let Err(e) = client.hold(&mut held) {
            failed = Some((i, e));
            break;
        }
    }
    std::thread::sleep(SETTLE);
    let during = dhat::HeapStats::get();
    drop(profiler);
    if let Some((i, e)) = failed {
        return Err(e).with_context(|| format!("idle connection {i}"));
    }
    let k = args.idle as f64;
    Ok(Idle {
        bytes: (during.curr_bytes as f64 - before.curr_bytes as f64) / k,
        blocks: (during.curr_blocks as f64 - before.curr_blocks as f64) / k,
    })
}

fn report(label: &str, args: &Args, c: &Count) {
    let n = args.requests as f64;
    println!(
        "{label} {:6.2} allocations/request  {:8.1} bytes allocated/request  \
         (origin accepted {} connections meanwhile)",
        c.blocks as f64 / n,
        c.bytes as f64 / n,
        c.upstream_connects
    );
}
