//! Connections open now, in all and by client address, so one client (however many sockets it
//! opens) cannot take every descriptor: past a cap, a new connection is answered 503 and closed.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Default)]
pub(crate) struct Connections {
    total: AtomicUsize,
    by_address: Mutex<HashMap<IpAddr, usize>>,
}

/// One admitted connection; dropping it gives its place back.
pub(crate) struct Admitted {
    connections: Arc<Connections>,
    address: IpAddr,
}

impl Connections {
    /// A place for a connection from `address`, or `None` when the total or its address's cap
    /// (`per_address`; 0: none) is reached.
    pub(crate) fn admit(self: &Arc<Self>, address: IpAddr, total: usize, per_address: usize) -> Option<Admitted> {
        if self.total.fetch_add(1, Ordering::AcqRel) >= total {
            self.total.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        let mut by_address = self.by_address.lock().unwrap();
        let open = by_address.entry(address).or_insert(0);
        if per_address > 0 && *open >= per_address {
            drop(by_address);
            self.total.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        *open += 1;
        Some(Admitted { connections: self.clone(), address })
    }

    #[cfg(test)]
    pub(crate) fn open(&self) -> usize {
        self.total.load(Ordering::Acquire)
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut by_address = self.connections.by_address.lock().unwrap();
        if let Some(open) = by_address.get_mut(&self.address) {
            *open -= 1;
            if *open == 0 {
                by_address.remove(&self.address);
            }
        }
        self.connections.total.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The answer to a connection over a cap, written before it is closed.
pub(crate) const REFUSED: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_hold_in_all_and_per_address_and_places_come_back() {
        let c = Arc::new(Connections::default());
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let first = c.admit(a, 3, 2).unwrap();
        let second = c.admit(a, 3, 2).unwrap();
        assert!(c.admit(a, 3, 2).is_none(), "a's cap");
        let third = c.admit(b, 3, 2).unwrap();
        assert!(c.admit(b, 3, 2).is_none(), "the total");
        assert_eq!(c.open(), 3);
        drop(first);
        assert!(c.admit(a, 3, 2).is_some(), "a's place came back");
        drop((second, third));
        assert_eq!(c.open(), 0);
        assert!(c.admit(a, 10, 0).is_some(), "0: no per-address cap");
    }
}
