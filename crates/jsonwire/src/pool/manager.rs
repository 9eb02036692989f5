//! What deadpool keeps ([`Client`]s), how it makes and checks them, and the checked-out
//! handle ([`PooledClient`]).

use std::ops::{Deref, DerefMut};

use deadpool::managed::{self, RecycleError, RecycleResult};

use crate::client::Client;
use crate::config::Config;
use crate::error::Error;

/// Opens connections from one configuration and decides which may be handed out again.
pub(super) struct Manager {
    config: Config,
}

impl Manager {
    pub(super) fn new(config: Config) -> Manager {
        Manager { config }
    }
}

impl managed::Manager for Manager {
    type Type = Client;
    type Error = Error;

    async fn create(&self) -> Result<Client, Error> {
        Client::connect_with(&self.config).await
    }

    /// Called on checkout: waits for a background drain to end (within the drain limits),
    /// then keeps only a connection that is idle outside a transaction and has heard nothing
    /// from the server since its last query.
    async fn recycle(&self, client: &mut Client, _: &managed::Metrics) -> RecycleResult<Error> {
        client.slot.settle().await;
        if !client.slot.reusable() {
            return Err(RecycleError::message(
                "closed, or left inside a transaction",
            ));
        }
        if client.slot.has_idle_input() {
            return Err(RecycleError::message(
                "the server sent a message or closed the connection while it was idle",
            ));
        }
        Ok(())
    }
}

/// A client checked out of a [`Pool`](super::Pool) ([`Pool::get`](super::Pool::get)); use it
/// as a [`Client`] (it dereferences to one). Dropped, it goes back to the pool, unless it is
/// closed or was left inside a transaction: then it is closed (the server rolls the
/// transaction back) and the pool opens another when needed.
pub struct PooledClient {
    object: Option<managed::Object<Manager>>,
}

impl PooledClient {
    pub(super) fn new(object: managed::Object<Manager>) -> PooledClient {
        PooledClient {
            object: Some(object),
        }
    }
}

impl Deref for PooledClient {
    type Target = Client;

    fn deref(&self) -> &Client {
        // Taken out only in `drop`.
        self.object
            .as_ref()
            .expect("a pooled client holds its connection")
    }
}

impl DerefMut for PooledClient {
    fn deref_mut(&mut self) -> &mut Client {
        self.object
            .as_mut()
            .expect("a pooled client holds its connection")
    }
}

impl Drop for PooledClient {
    fn drop(&mut self) {
        if let Some(object) = self.object.take() {
            if !object.slot.reusable() {
                // Out of the pool at once: an open transaction would otherwise hold its
                // locks until the next checkout found it.
                drop(managed::Object::take(object));
            }
        }
    }
}

impl std::fmt::Debug for PooledClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("PooledClient").field(&**self).finish()
    }
}
