//! Connection balancing across cores. The kernel spreads connections over
//! the cores' SO_REUSEPORT listeners by a hash of their addresses; for the
//! few long-lived keep-alive connections a node often sees (a handful of
//! Telegraf agents, a load generator) that split is often lopsided (eight
//! connections on two cores land 6/2 or worse three times in ten), and the core
//! with fewer idles whenever its clients are between requests while the
//! other queues. So each accepted connection goes to the core that serves
//! the fewest (Seastar's connection distribution), handed over through a
//! channel mesh; on a tie it stays where it was accepted.

use std::sync::atomic::{AtomicUsize, Ordering};

use glommio::channels::channel_mesh::{FullMesh, MeshBuilder, Receivers, Senders};
use glommio::net::AcceptedTcpStream;

/// Connections each core serves or has been handed, by mesh peer id.
pub struct Loads {
    open: Box<[AtomicUsize]>,
}

impl Loads {
    pub fn new(cores: usize) -> Self {
        Loads {
            open: (0..cores).map(|_| AtomicUsize::new(0)).collect(),
        }
    }

    /// The core a connection accepted on `here` goes to, counted there at
    /// once (so other cores' accepts see it), or `None` when every core
    /// already serves `cap` connections.
    pub fn assign(&self, here: usize, cap: usize) -> Option<usize> {
        let mut best = here;
        let mut least = self.open[here].load(Ordering::Relaxed);
        for (core, open) in self.open.iter().enumerate() {
            let open = open.load(Ordering::Relaxed);
            if open < least {
                (best, least) = (core, open);
            }
        }
        if least >= cap {
            return None;
        }
        self.open[best].fetch_add(1, Ordering::Relaxed);
        Some(best)
    }

    /// Counts a connection on `core` whatever its load (a hand-over that
    /// could not be made).
    pub fn add(&self, core: usize) {
        self.open[core].fetch_add(1, Ordering::Relaxed);
    }

    /// A connection of `core` has closed.
    pub fn release(&self, core: usize) {
        self.open[core].fetch_sub(1, Ordering::Relaxed);
    }

    #[cfg(test)]
    fn counts(&self) -> Vec<usize> {
        self.open
            .iter()
            .map(|o| o.load(Ordering::Relaxed))
            .collect()
    }
}

/// The hand-over mesh, shared by all executors before they start.
pub type Handovers = FullMesh<AcceptedTcpStream>;

pub fn handovers(cores: usize) -> Handovers {
    // A connection is handed over only to a core with fewer, so a few
    // slots per peer are plenty; a full channel serves the connection here.
    MeshBuilder::full(cores, 64)
}

/// One core's ends of the hand-over mesh.
pub struct Ends {
    pub senders: Senders<AcceptedTcpStream>,
    pub receivers: Receivers<AcceptedTcpStream>,
}

impl Ends {
    pub async fn join(mesh: Handovers) -> Ends {
        let (senders, receivers) = mesh.join().await.expect("join the hand-over mesh");
        Ends { senders, receivers }
    }

    /// This core's index in [`Loads`].
    pub fn here(&self) -> usize {
        self.senders.peer_id()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_accepted_on_one_core_spread_evenly() {
        let loads = Loads::new(2);
        let placed: Vec<usize> = (0..8).map(|_| loads.assign(0, 100).unwrap()).collect();
        assert_eq!(placed, [0, 1, 0, 1, 0, 1, 0, 1]);
        assert_eq!(loads.counts(), [4, 4]);
    }

    #[test]
    fn a_tie_stays_where_it_was_accepted() {
        let loads = Loads::new(3);
        assert_eq!(loads.assign(2, 100), Some(2));
        assert_eq!(loads.assign(2, 100), Some(0));
        assert_eq!(loads.assign(0, 100), Some(1));
        assert_eq!(loads.assign(1, 100), Some(1));
        assert_eq!(loads.counts(), [1, 2, 1]);
    }

    #[test]
    fn closed_connections_make_room_and_the_cap_holds_per_core() {
        let loads = Loads::new(2);
        for _ in 0..4 {
            assert!(loads.assign(1, 2).is_some());
        }
        assert_eq!(loads.assign(1, 2), None);
        assert_eq!(loads.assign(0, 2), None);
        loads.release(0);
        assert_eq!(loads.assign(1, 2), Some(0));
        assert_eq!(loads.counts(), [2, 2]);
        loads.add(1);
        assert_eq!(loads.counts(), [2, 3]);
    }
}
