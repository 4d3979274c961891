//! The [`Link`] between MPI ranks (cargo feature `mpi`): sums gathered to
//! rank 0 in rank order, added there in that order and broadcast.

use super::Link;
use mpi::datatype::PartitionMut;
use mpi::topology::{Communicator, SimpleCommunicator};
use mpi::traits::{CommunicatorCollectives, Root};
use mpi::Count;

/// The ranks of an MPI communicator (usually `universe.world()`).
///
/// Sums are deterministic: rank 0 gathers every rank's buffer (`MPI_Gather`
/// places them in rank order), adds them in rank order and broadcasts the
/// result, so neither the MPI library's reduction algorithm nor the
/// mapping of ranks to machines changes a bit of it.
///
/// An objective evaluated on the thread that initialised MPI needs nothing
/// more than `mpi::initialize()`; one evaluated on other threads (a rayon
/// pool's `install`, a test harness's threads) needs MPI initialised with
/// `Threading::Serialized` or above.
///
/// ```no_run
/// use mf_runtime::shard::{Link, MpiLink};
/// let universe = mpi::initialize().expect("MPI initialised once");
/// let mut link = MpiLink::new(universe.world());
/// let mut v = [link.rank() as f64];
/// link.sum_in_rank_order(&mut v); // 0 + 1 + … on every rank
/// ```
pub struct MpiLink {
    world: SimpleCommunicator,
}

// SAFETY: a communicator is a handle the MPI library owns; moving it to
// another thread is allowed, and `Link`'s `&mut self` methods never call
// MPI from two threads at once. Calling MPI from a thread other than the
// one that initialised it needs a threading level of at least
// `Threading::Serialized` (`mpi::initialize_with_threading`), as the
// library's documentation says.
unsafe impl Send for MpiLink {}

impl MpiLink {
    /// The link over the ranks of `world`.
    pub fn new(world: SimpleCommunicator) -> MpiLink {
        MpiLink { world }
    }
}

impl Link for MpiLink {
    fn rank(&self) -> usize {
        self.world.rank() as usize
    }

    fn ranks(&self) -> usize {
        self.world.size() as usize
    }

    fn sum_in_rank_order(&mut self, values: &mut [f64]) {
        let ranks = self.ranks();
        if ranks == 1 || values.is_empty() {
            return;
        }
        let root = self.world.process_at_rank(0);
        if self.rank() == 0 {
            let mut all = vec![0.0; values.len() * ranks];
            root.gather_into_root(&values[..], &mut all[..]);
            for part in all.chunks_exact(values.len()).skip(1) {
                for (v, p) in values.iter_mut().zip(part) {
                    *v += p;
                }
            }
        } else {
            root.gather_into(&values[..]);
        }
        root.broadcast_into(values);
    }

    fn all_gather(&mut self, mine: &[f64], counts: &[usize], all: &mut [f64]) {
        let counts: Vec<Count> = counts
            .iter()
            .map(|&c| Count::try_from(c).expect("a row block of fewer than 2³¹ values"))
            .collect();
        let displs: Vec<Count> = counts
            .iter()
            .scan(0, |at, &c| {
                let start = *at;
                *at += c;
                Some(start)
            })
            .collect();
        let mut partition = PartitionMut::new(all, counts, &displs[..]);
        self.world.all_gather_varcount_into(mine, &mut partition);
    }
}
