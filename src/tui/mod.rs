//! The control center: the only module that touches the terminal.
//!
//! Flow: terminal events, ticks and runtime events become `Action`s; `App::update` applies
//! them; `view::draw` renders the state (pure, no I/O); frames are drawn only when something
//! changed, at most `tui.fps` times a second.

mod action;
mod app;
mod view;

use std::process::ExitCode;
use std::time::Duration;

use color_eyre::eyre::{Result, bail};
use futures::StreamExt;
use ratatui::crossterm::event::{Event, EventStream, KeyEventKind};
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

pub use action::Action;
pub use app::App;
pub use view::draw;

use crate::agent::{Runtime, RuntimeOptions};
use crate::config::Config;
use crate::control::{DataDirLock, serve, socket_path};

/// Open the control center on a runtime this process owns; the control socket is served
/// too, so `aios dispatch` from another terminal reaches this runtime.
pub async fn run(config: Config) -> Result<ExitCode> {
    let data_dir = config.data_dir();
    let _lock = match DataDirLock::try_acquire(&data_dir)? {
        Ok(lock) => lock,
        Err(holder) => bail!(
            "data dir {} is owned by {holder}; use `aios dispatch`/`aios context` against it, \
             or pass another --data-dir",
            data_dir.display()
        ),
    };
    let runtime = Runtime::start(RuntimeOptions::new(config.clone())).await?;
    let stop_server = CancellationToken::new();
    let server = tokio::spawn({
        let rt = runtime.clone();
        let socket = socket_path(&data_dir);
        let stop = stop_server.clone();
        async move { serve(rt, &socket, stop).await }
    });

    // MCP clients reach this runtime through `aios mcp` (the mcp.sock socket); HTTP is
    // `aios serve`'s, so a TUI never competes for mcp.http_bind.
    let mcp = crate::mcp::OwnerServers::start(&runtime, &config, false).await;
    let mut app = App::new(&runtime, config.tui.max_lines as usize);
    let fps = config.tui.fps.clamp(1, 240);
    let mut terminal = ratatui::init();
    let result = event_loop(&mut terminal, &mut app, &runtime, fps).await;
    ratatui::restore();

    stop_server.cancel();
    let _ = server.await;
    if let Ok(mcp) = mcp {
        mcp.stop().await;
    }
    runtime.shutdown().await;
    result.map(|()| ExitCode::SUCCESS)
}

async fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    app: &mut App,
    runtime: &Runtime,
    fps: u32,
) -> Result<()> {
    let mut keys = EventStream::new();
    let mut events = runtime.subscribe();
    let mut frame = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(fps)));
    frame.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut clock = tokio::time::interval(Duration::from_secs(1));
    let mut dirty = true;
    let stop = crate::shutdown::shutdown_signal();
    tokio::pin!(stop);
    while !app.should_quit() {
        tokio::select! {
            signal = &mut stop => {
                tracing::info!(signal, "stopping the control center");
                break;
            }
            _ = frame.tick() => {
                if dirty {
                    terminal.draw(|f| draw(f, app))?;
                    dirty = false;
                }
            }
            _ = clock.tick() => {
                dirty |= app.update(Action::Tick);
                dirty |= app.update(Action::BusState(runtime.bus().state().label()));
            }
            key = keys.next() => match key {
                Some(Ok(Event::Key(k))) if k.kind == KeyEventKind::Press => {
                    dirty |= app.update(Action::from_key(k));
                }
                Some(Ok(Event::Resize(..))) => dirty = true,
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.into()),
                None => break,
            },
            ev = events.recv() => match ev {
                Ok(ev) => dirty |= app.update(Action::Runtime(Box::new(ev))),
                Err(RecvError::Lagged(n)) => dirty |= app.update(Action::Dropped(n)),
                Err(RecvError::Closed) => break,
            },
        }
    }
    Ok(())
}
