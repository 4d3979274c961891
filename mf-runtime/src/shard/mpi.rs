//! The [`Link`] between MPI ranks (cargo feature `mpi`): sums as a
//! reduce-scatter added in rank order, then an all-gather; a broadcast and
//! a gather from and to rank 0.

use super::Link;
use mpi::datatype::{Partition, PartitionMut};
use mpi::topology::{Communicator, SimpleCommunicator};
use mpi::traits::{CommunicatorCollectives, Root};
use mpi::Count;

/// The ranks of an MPI communicator (usually `universe.world()`).
///
/// Sums are deterministic and spread over the ranks: rank `r` owns the
/// `r`-th of `ranks` equal slices of the buffer, receives that slice from
/// every rank (`MPI_Alltoallv` places them by rank), adds them in rank
/// order (`((v₀ + v₁) + v₂) + …`) and every rank gathers the summed slices
/// (`MPI_Allgatherv`). Neither the MPI library's reduction algorithm nor
/// the mapping of ranks to machines changes a bit of the result, and each
/// rank sends and receives about twice the buffer, whatever the rank count.
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

/// MPI's counts and displacements of consecutive parts of `counts` values.
fn layout(counts: &[usize]) -> (Vec<Count>, Vec<Count>) {
    let count = |c: usize| Count::try_from(c).expect("a part of fewer than 2³¹ values");
    let displs = counts
        .iter()
        .scan(0, |at, &c| {
            let start = *at;
            *at += c;
            Some(count(start))
        })
        .collect();
    (counts.iter().map(|&c| count(c)).collect(), displs)
}

impl Link for MpiLink {
    fn rank(&self) -> usize {
        self.world.rank() as usize
    }

    fn ranks(&self) -> usize {
        self.world.size() as usize
    }

    fn sum_in_rank_order(&mut self, values: &mut [f64]) {
        let (ranks, rank, n) = (self.ranks(), self.rank(), values.len());
        if ranks == 1 || n == 0 {
            return;
        }
        // Slice r of the buffer: values[n·r/ranks .. n·(r+1)/ranks].
        let bound = |r: usize| n * r / ranks;
        let slices: Vec<usize> = (0..ranks).map(|r| bound(r + 1) - bound(r)).collect();
        let mine = slices[rank];
        let mut parts = vec![0.0; mine * ranks];
        {
            let (counts, displs) = layout(&slices);
            let send = Partition::new(&values[..], counts, displs);
            let (counts, displs) = layout(&vec![mine; ranks]);
            let mut receive = PartitionMut::new(&mut parts[..], counts, displs);
            self.world.all_to_all_varcount_into(&send, &mut receive);
        }
        let (sum, rest) = parts.split_at_mut(mine);
        for part in rest.chunks_exact(mine.max(1)) {
            for (s, p) in sum.iter_mut().zip(part) {
                *s += p;
            }
        }
        let (counts, displs) = layout(&slices);
        let mut partition = PartitionMut::new(values, counts, displs);
        self.world.all_gather_varcount_into(sum, &mut partition);
    }

    fn broadcast(&mut self, values: &mut [f64]) {
        if self.ranks() > 1 && !values.is_empty() {
            self.world.process_at_rank(0).broadcast_into(values);
        }
    }

    fn gather(&mut self, mine: &[f64], counts: &[usize], all: &mut [f64]) {
        let root = self.world.process_at_rank(0);
        if self.rank() == 0 {
            let (counts, displs) = layout(counts);
            let mut partition = PartitionMut::new(all, counts, displs);
            root.gather_varcount_into_root(mine, &mut partition);
        } else {
            root.gather_varcount_into(mine);
        }
    }
}
