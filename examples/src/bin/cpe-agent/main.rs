//! `cpe-agent`: the reference CPE agent — a simulated home gateway (`hal::sim`) managed over
//! USP (TR-369) and CWMP (TR-069), driven by tokio.
//!
//! ```text
//! cargo run --release -p examples --bin cpe-agent             # embedded defaults
//! cpe-agent --config cpe-agent.toml --ws-listen 127.0.0.1:0   # a file, then flags
//! cpe-agent --print-config                                    # every key, with defaults
//! cpe-agent --acs-url http://127.0.0.1:7557/ --cr-username cr --cr-password secret
//! ```
//!
//! This binary is the driver of the sans-IO stacks: the only place that reads clocks and opens
//! sockets. Modules: [`cli`] (the flags), [`config`] (TOML file and flags), [`device`] (the simulated device, its
//! persistence in the state directory and the fan-out of its notices), [`usp`] (the USP
//! agent's drive loop), [`mtp`] (the MTPs as TR-181 rows: factory defaults, status, restarts
//! on change), [`ws`] (the WebSocket server and client MTPs), [`mqtt`] (the MQTT client MTP, with
//! [`mqtt_filters`], its topic filters), [`uds`] (the Unix domain socket MTP) and [`cwmp`]
//! (the CWMP session's
//! drive loop and the connection-request server), [`acs_client`] (its HTTP/HTTPS client, on
//! [`http1`], also the bulk data reports'), [`bulkdata`] (bulk data profiles: HTTP and MQTT
//! reports and USP `Push!`) and
//! [`cwmp_udp`] (UDP connection requests), [`cwmp_xmpp`] (the XMPP connection for connection
//! requests, with [`dns_srv`], its SRV lookup), [`log`] (the log lines), [`throughput`] (the TR-143 download and upload tests), [`tls`] (the TLS trust and server certificate
//! shared by every transport).
// The driver is where time enters the sans-IO crates: it reads the monotonic clock and the
// wall clock and passes them in as inputs (STYLE.md §2.3), so the workspace-wide ban on
// `Instant::now`/`SystemTime::now` does not apply to this binary.
#![allow(clippy::disallowed_methods)]

mod acs_client;
mod bulkdata;
mod cli;
mod config;
mod content_coding;
mod controller_trust;
mod cwmp;
mod cwmp_reach;
mod cwmp_udp;
mod cwmp_xmpp;
mod device;
mod dns_srv;
mod download;
mod http1;
mod log;
mod mqtt;
mod mqtt_filters;
mod mqtt_stats;
mod mqtt_ws;
mod mtp;
mod reachability;
mod running;
mod stomp;
mod throughput;
mod tls;
mod uds;
mod usp;
mod ws;
mod x509;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use hal::sim::{Fault, HalCall};
use tokio::sync::{Notify, mpsc, watch};
use tr181_model::schema::Protocols;

use crate::cli::Cli;
use crate::config::Config;

/// How long tasks get to finish after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

fn main() -> ExitCode {
    let cli = match Cli::parse() {
        Ok(cli) => cli,
        Err(exit) => return exit.report(),
    };
    if cli.print_config {
        print!("{}", config::EXAMPLE);
        return ExitCode::SUCCESS;
    }
    let overrides = mtp::Overrides {
        ws_listen: cli.ws_listen,
        no_ws: cli.no_ws,
    };
    let config = match Config::load(&cli) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("cpe-agent: {error}");
            return ExitCode::from(2);
        }
    };
    if let Err(error) = init_logs(&config.log) {
        eprintln!("cpe-agent: invalid log filter: {error}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cpe-agent: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(config, overrides)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error}");
            ExitCode::FAILURE
        }
    }
}

/// Human-readable logs on stdout ([`log`]); `RUST_LOG` overrides the configured filter.
fn init_logs(filter: &str) -> Result<(), Box<dyn std::error::Error>> {
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| filter.to_owned());
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    tracing::subscriber::set_global_default(log::Logger::new(&filter, ansi)?)?;
    Ok(())
}

async fn run(config: Config, overrides: mtp::Overrides) -> Result<(), Box<dyn std::error::Error>> {
    let stacks = if config.cwmp.active() {
        Protocols::BOTH
    } else {
        Protocols::USP
    };
    let trust = config.tls.trust()?;
    let device = device::boot(
        &config.state_dir,
        &config.device.serial,
        stacks,
        trust.clone(),
        &config.device.client,
    )
    .await?;
    tracing::info!(
        serial = %config.device.serial,
        state = %config.state_dir.join(device::FLASH_DIR).display(),
        cause = device.boot.cause.as_str(),
        bootstrap = device.boot.bootstrap,
        "simulated device booted"
    );
    // A slow device: every command, every value applied takes that much longer.
    for (call, delay_ms) in [
        (HalCall::Invoke, config.device.command_delay_ms),
        (HalCall::Apply, config.device.apply_delay_ms),
    ] {
        if delay_ms > 0 {
            let delay = Duration::from_millis(delay_ms);
            device.sim.inject(Fault::delay(call, 1, delay).persistent());
        }
    }
    let engine = device.engine.clone();

    if !config.usp.endpoint_id.is_empty() {
        let id = config.usp.endpoint_id.clone();
        engine
            .device_update(|txn| txn.set("Device.LocalAgent.EndpointID", &id))
            .await?;
    }
    let endpoint_id = engine.read(|store| {
        store
            .value("Device.LocalAgent.EndpointID")
            .map(tr181_model::value::Value::canonical_text)
            .unwrap_or_default()
    });
    // The configuration's MTPs are the factory defaults; afterwards the rows are the truth,
    // and a flag of this start overrides them.
    // One update (each is code of its own in the binary): the CA certificates' rows and the
    // MQTT capabilities at every start, the factory defaults at the first.
    let unseeded = mtp::unseeded(&engine);
    let no_roles = controller_trust::unseeded(&engine);
    engine
        .device_update(|txn| {
            controller_trust::sync_certificates(txn, trust.as_ref())?;
            mqtt::advertise(txn)?;
            if unseeded {
                mtp::seed(txn, &config.usp)?;
            }
            if no_roles {
                controller_trust::seed(txn)?;
            }
            Ok(())
        })
        .await?;
    let ws_listen = if unseeded {
        tracing::info!(
            "USP MTPs and ControllerTrust written to Device.LocalAgent. from the configuration"
        );
        Some(config.usp.websocket.listen)
    } else {
        mtp::apply_overrides(&engine, overrides).await?;
        if let Some(listen) = overrides.ws_listen {
            tracing::info!(%listen, "--ws-listen overrides the stored WebSocket.Port");
        }
        overrides.ws_listen
    };
    // What the TLS checks read, before the first connection.
    if let Some(trust) = &trust {
        device::follow_tofu(&engine, trust);
        device::follow_time(&engine, trust).await;
    }

    let (stop, shutdown) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();

    let (usp_device_tx, usp_device_rx) = mpsc::channel(256);
    let (mtp_tx, mtp_rx) = mpsc::channel(256);
    let wake = Arc::new(Notify::new());
    let driver = usp::UspDriver::new(
        engine.clone(),
        wake.clone(),
        &endpoint_id,
        &config.usp,
        trust.as_ref(),
    );
    let network = driver.network_up();
    tasks.spawn(driver.run(mtp_rx, usp_device_rx, shutdown.clone()));
    #[cfg(unix)]
    tasks.spawn(follow_signals(
        engine.clone(),
        trust.clone(),
        shutdown.clone(),
    ));
    let (mtp_device_tx, mtp_device_rx) = mpsc::channel(16);
    let mqtt_connections = mqtt::Connections::default();
    let supervisor = mtp::Supervisor::new(
        engine.clone(),
        config.usp.clone(),
        &endpoint_id,
        trust.clone(),
        mtp_tx,
        network,
        ws_listen,
    )
    .with_mqtt_stats(device.mqtt_stats.clone())
    .with_mqtt_connections(mqtt_connections.clone())
    .with_state_dir(&config.state_dir);
    tasks.spawn(supervisor.run(mtp_device_rx, shutdown.clone()));
    let (bulk_device_tx, bulk_device_rx) = mpsc::channel(16);
    tasks.spawn(bulkdata::serve(
        engine.clone(),
        endpoint_id.clone(),
        trust.clone(),
        mqtt_connections,
        bulk_device_rx,
        device.force_collection,
        shutdown.clone(),
    ));
    let mut drivers = vec![usp_device_tx, mtp_device_tx, bulk_device_tx];

    if config.cwmp.active() {
        let listen = SocketAddr::new(config.cwmp.listen, config.cwmp.connection_request_port);
        let listener = cwmp::ConnReqListener::bind(listen, &config.cwmp.connection_request_path)
            .await
            .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        let host = cwmp_reach::reachable_address(config.cwmp.listen, &config.cwmp.acs_url).await;
        let (port, path) = listener.port_and_path()?;
        let cr_url = cwmp_reach::cr_url(host, port, &path);
        let (host_tx, host_rx) = watch::channel(host);
        if config.cwmp.listen.is_unspecified() {
            // Bound to every interface: the address on the route to the ACS is followed.
            let (reach_device_tx, reach_device_rx) = mpsc::channel(16);
            drivers.push(reach_device_tx);
            tasks.spawn(cwmp_reach::follow(
                engine.clone(),
                config.cwmp.listen,
                (port, path),
                host_tx,
                reach_device_rx,
                shutdown.clone(),
            ));
        }
        let udp = if config.cwmp.udp_connection_requests {
            let port = config
                .cwmp
                .udp_connection_request_port
                .unwrap_or(config.cwmp.connection_request_port);
            let listen = SocketAddr::new(config.cwmp.listen, port);
            let udp = cwmp_udp::UdpConnReqListener::bind(listen, host)
                .await
                .map_err(|e| format!("cannot listen on UDP {listen}: {e}"))?;
            let address = udp.address();
            Some((udp, address))
        } else {
            None
        };
        let udp_address = udp.as_ref().map_or("", |(_, address)| address.as_str());
        let since = cwmp::configure_device(&engine, &config.cwmp, &cr_url, udp_address).await?;
        let (cwmp_device_tx, cwmp_device_rx) = mpsc::channel(256);
        let (cr_tx, cr_rx) = mpsc::channel(cwmp::cr_queue());
        let driver = cwmp::CwmpDriver::new(
            engine.clone(),
            wake.clone(),
            &config.state_dir,
            &config.cwmp,
            trust.clone(),
            since,
        );
        tasks.spawn(driver.run(cwmp_device_rx, cr_rx, shutdown.clone()));
        if let Some((udp, address)) = udp {
            // The socket reads the STUN settings again when the store changes.
            let (udp_device_tx, udp_device_rx) = mpsc::channel(16);
            drivers.push(udp_device_tx);
            tasks.spawn(udp.serve(
                engine.clone(),
                cr_tx.clone(),
                udp_device_rx,
                host_rx,
                shutdown.clone(),
            ));
            tracing::info!("UDP connection requests (Annex G) validated on {address}");
        }
        // The XMPP connection follows `ConnReqXMPPConnection` and its row on every change.
        let (xmpp_device_tx, xmpp_device_rx) = mpsc::channel(16);
        drivers.push(xmpp_device_tx);
        tasks.spawn(cwmp_xmpp::serve(
            engine.clone(),
            trust.clone(),
            dns_srv::Resolver::new(config.cwmp.dns_server),
            cr_tx.clone(),
            xmpp_device_rx,
            shutdown.clone(),
        ));
        tasks.spawn(listener.serve(engine.clone(), cr_tx, shutdown.clone()));
        drivers.push(cwmp_device_tx);
        tracing::info!("CWMP connection requests accepted on {cr_url}");
        tracing::info!(
            state = %config.state_dir.join(cwmp::STATE_FILE).display(),
            "CWMP client informing the ACS at {}",
            config.cwmp.acs_url
        );
    } else {
        tracing::info!("CWMP (TR-069) is off: no ACS URL configured (--acs-url or [cwmp] acs_url)");
    }

    let comings_and_goings = config
        .device
        .client
        .iter()
        .filter(|lan| lan.comes_or_goes());
    tasks.spawn(device::run(
        device.sim.clone(),
        comings_and_goings.cloned().collect(),
        device.downloads.clone(),
        engine.clone(),
        Duration::from_millis(config.device.tick_ms),
        drivers,
        wake,
        trust.clone(),
        shutdown.clone(),
    ));

    wait_for_signal().await;
    tracing::info!("shutting down");
    let _ = stop.send(true);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!("tasks did not stop within {SHUTDOWN_GRACE:?}");
        tasks.abort_all();
    }
    engine.persist().await?;
    tracing::info!(state = %config.state_dir.display(), "state saved, stopped");
    Ok(())
}

/// SIGUSR1 tells the agent that the network came up (from a hotplug script, say): the device
/// reports it, and the MTPs waiting to reconnect try again at once with their backoff reset.
/// SIGHUP has it read its TLS files again (`tls.rs`, "Renewal").
#[cfg(unix)]
async fn follow_signals(
    engine: Arc<hal::Engine>,
    trust: Option<tls::Trust>,
    mut shutdown: watch::Receiver<bool>,
) {
    use tokio::signal::unix::{SignalKind, signal};
    let (mut usr1, mut hup) = match (
        signal(SignalKind::user_defined1()),
        signal(SignalKind::hangup()),
    ) {
        (Ok(usr1), Ok(hup)) => (usr1, hup),
        (Err(error), _) | (_, Err(error)) => {
            tracing::warn!(%error, "cannot watch SIGUSR1 and SIGHUP");
            return;
        }
    };
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            Some(()) = usr1.recv() => {
                tracing::info!("network up (SIGUSR1)");
                engine.sink().network_up();
            }
            Some(()) = hup.recv() => match &trust {
                Some(trust) => device::reload_trust(&engine, trust, "SIGHUP").await,
                None => tracing::info!("SIGHUP: no TLS trust to reload"),
            },
        }
    }
}

/// Ctrl-C, or SIGTERM on Unix.
async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(error) => {
                tracing::warn!(%error, "cannot watch SIGTERM");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
