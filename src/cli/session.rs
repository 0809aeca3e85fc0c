//! A command's way to the runtime: in this process when no owner runs on the data dir
//! (taking the lock for the command's lifetime), or through the running owner's control
//! socket. Both paths answer through `control::handle`, so output is the same.

use color_eyre::eyre::{Result, eyre};
use tokio::sync::mpsc;

use crate::config::Config;
use crate::context::Caller;
use crate::control::{ControlClient, LockError, Request, Streamed, handle, socket_path};
use crate::owner::{Owner, OwnerError, OwnerOptions};

pub enum Session {
    /// This process owns the data dir for the command's lifetime (the runtime alone: no
    /// sockets, no metrics).
    Owner(Owner),
    /// Another process owns it; we talk to it.
    Remote {
        client: ControlClient,
        holder: String,
    },
}

impl Session {
    pub async fn open(config: &Config, caller: Caller) -> Result<Session> {
        match Owner::start(config, OwnerOptions::default()).await {
            Ok(owner) => Ok(Session::Owner(owner)),
            Err(OwnerError::Lock(LockError::Owned { data_dir, holder })) => {
                let path = socket_path(&data_dir);
                let client = ControlClient::connect(&path, caller).await.map_err(|e| {
                    eyre!(
                        "data dir {} is owned by {holder}, but its control socket {} does not answer: {e}",
                        data_dir.display(),
                        path.display()
                    )
                })?;
                Ok(Session::Remote { client, holder })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// True when the intent will be handled by another, long-running process.
    pub fn is_remote(&self) -> bool {
        matches!(self, Session::Remote { .. })
    }

    /// Ask for something; events (streamed tokens) go to `on_event` as they come.
    pub async fn call(
        &mut self,
        caller: &Caller,
        request: Request,
        mut on_event: impl FnMut(Streamed),
    ) -> Result<serde_json::Value> {
        match self {
            Session::Remote { client, .. } => Ok(client.call(request, on_event).await?),
            Session::Owner(owner) => {
                let (tx, mut rx) = mpsc::channel(256);
                let work = handle(owner.runtime(), caller, request, &tx);
                tokio::pin!(work);
                let result = loop {
                    tokio::select! {
                        r = &mut work => break r,
                        Some(ev) = rx.recv() => on_event(ev),
                    }
                };
                while let Ok(ev) = rx.try_recv() {
                    on_event(ev);
                }
                Ok(result?)
            }
        }
    }

    /// One request as the CLI user, without streamed events: open, ask, close. The shape of
    /// every listing and decision command.
    pub async fn request(config: &Config, request: Request) -> Result<serde_json::Value> {
        let caller = Caller::cli();
        let mut session = Session::open(config, caller.clone()).await?;
        let result = session.call(&caller, request, |_| {}).await;
        session.close().await;
        result
    }

    /// Shut an in-process runtime down in order (audit flushed, the lock released last); a
    /// remote one keeps running.
    pub async fn close(self) {
        if let Session::Owner(owner) = self {
            owner.shutdown().await;
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Session::Owner(_) => "in this process".into(),
            Session::Remote { holder, .. } => format!("by the running owner ({holder})"),
        }
    }
}
