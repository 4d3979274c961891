//! Loads spread over every core: the caller's thread reads the input in
//! blocks of whole records ([`Blocks`]), parse workers turn blocks into
//! batches of ratings, and one thread maps their ids into the
//! [`RatingsBuilder`] in block order, so ids, entry order, line numbers,
//! duplicates and the first error in file order are the ones a single
//! thread gives.
//!
//! A worker lists each column's distinct ids in the order they first
//! appear in its block, and gives each entry the place of its ids in those
//! lists (a hash map per column, kept by the worker from block to block).
//! The mapping thread then looks up each listed id once in the global id
//! maps, in list order, block after block: the ids a sequential load would
//! meet first are met first, so the indices are a sequential load's, and
//! each entry costs an array lookup ([`RatingsBuilder::push_block`]).
//!
//! Each block travels with the parser's state at its start ([`Parse`]):
//! the header and the first line's field count are read first, on the
//! caller's thread, before any block goes to a worker; a Netflix block
//! takes the movie of the last `MovieID:` line before it. A bounded number
//! of block buffers circulates (reader, workers, builder, back to the
//! reader), which bounds memory. An input of one block, or a load on one
//! thread, is parsed and mapped on the caller's thread alone.

use std::collections::{BTreeMap, HashMap};
use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender};
use std::sync::Mutex;
use std::thread;

use foldhash::fast::RandomState;

use super::cut::{Block, Blocks};
use crate::data::ratings::BlockEntry;
use crate::data::{DataError, RatingsBuilder, RawId};

/// Block buffers in circulation per parse worker.
const BUFFERS_PER_WORKER: usize = 2;

/// An id held by a batch: an integer, or a range of the batch's text.
#[derive(Clone, Copy)]
enum Id {
    Int(i64),
    Text(u32, u32),
}

/// One column of ids of a block: its distinct ids in the order they first
/// appear, and each entry's place among them.
#[derive(Default)]
struct LocalIds {
    distinct: Vec<Id>,
    text: String,
    entries: Vec<u32>,
}

impl LocalIds {
    /// The distinct ids, in the order they first appear.
    fn distinct(&self) -> impl Iterator<Item = RawId<'_>> {
        self.distinct.iter().map(|&id| match id {
            Id::Int(v) => RawId::Int(v),
            Id::Text(a, b) => RawId::Str(&self.text[a as usize..b as usize]),
        })
    }

    fn clear(&mut self) {
        self.distinct.clear();
        self.text.clear();
        self.entries.clear();
    }
}

/// The places of the ids of one column met so far in a block. A worker
/// keeps its own from block to block (cleared, warm in its core's cache).
#[derive(Default)]
struct Seen {
    ints: HashMap<i64, u32, RandomState>,
    texts: HashMap<Box<str>, u32, RandomState>,
}

impl Seen {
    /// Adds an entry's id to `ids`, listing it when new to the block.
    fn push(&mut self, ids: &mut LocalIds, raw: RawId<'_>) {
        // A block holds fewer ids than bytes, and its bytes fit in memory.
        let next = ids.distinct.len() as u32;
        let local = match raw {
            RawId::Int(v) => *self.ints.entry(v).or_insert_with(|| {
                ids.distinct.push(Id::Int(v));
                next
            }),
            RawId::Str(s) => match self.texts.get(s) {
                Some(&local) => local,
                None => {
                    let start = ids.text.len() as u32;
                    ids.text.push_str(s);
                    ids.distinct.push(Id::Text(start, ids.text.len() as u32));
                    self.texts.insert(s.into(), next);
                    next
                }
            },
        };
        ids.entries.push(local);
    }

    fn clear(&mut self) {
        self.ints.clear();
        self.texts.clear();
    }
}

/// The ratings of one block on their way to the id maps, each id held
/// once per block.
#[derive(Default)]
struct Batch {
    lines: Vec<usize>,
    users: LocalIds,
    items: LocalIds,
    ratings: Vec<f64>,
    /// Empty, or one timestamp per rating.
    times: Vec<i64>,
}

impl Batch {
    /// Pushes the ratings into `builder`, in order, and empties the batch
    /// (keeping its allocations).
    fn push_into(&mut self, builder: &mut RatingsBuilder) {
        let entries = (0..self.lines.len()).map(|k| BlockEntry {
            line: self.lines[k],
            user: self.users.entries[k],
            item: self.items.entries[k],
            value: self.ratings[k],
            time: self.times.get(k).copied(),
        });
        builder.push_block(self.users.distinct(), self.items.distinct(), entries);
        self.lines.clear();
        self.users.clear();
        self.items.clear();
        self.ratings.clear();
        self.times.clear();
    }
}

/// What a block in flight holds: its bytes and its ratings. A bounded
/// number circulates from the reader to the workers, to the builder and
/// back, so that their allocations are reused.
#[derive(Default)]
struct Buffers {
    bytes: Vec<u8>,
    batch: Batch,
}

/// Where a parser puts each rating it reads: the block's batch, and the
/// ids met so far in the block.
pub(super) struct Sink {
    batch: Batch,
    users: Seen,
    items: Seen,
    /// Timestamps are passed on (else dropped here).
    keep_times: bool,
}

impl Sink {
    fn new(keep_times: bool) -> Self {
        Sink {
            batch: Batch::default(),
            users: Seen::default(),
            items: Seen::default(),
            keep_times,
        }
    }

    /// Adds the rating read on `line`, with its time (seconds since the
    /// Unix epoch) when the file gives one.
    pub(super) fn push(
        &mut self,
        line: usize,
        user: RawId<'_>,
        item: RawId<'_>,
        rating: f64,
        time: Option<i64>,
    ) {
        self.batch.lines.push(line);
        self.users.push(&mut self.batch.users, user);
        self.items.push(&mut self.batch.items, item);
        self.batch.ratings.push(rating);
        if self.keep_times {
            self.batch.times.extend(time);
        }
    }
}

/// A layout's parser: its state at the start of a block is all a block
/// needs to be parsed on its own.
pub(super) trait Parse: Clone + Send {
    /// Whether blocks can now be parsed apart (the state that the first
    /// lines set, such as the header, is known).
    fn ready(&self) -> bool;
    /// Moves the state past `text`, a block parsed elsewhere.
    fn skip(&mut self, text: &[u8]);
    /// Parses `text`, whole records whose first line is `first_line`, into
    /// `sink`; the first error in the block's order.
    fn parse(&mut self, first_line: usize, text: &[u8], sink: &mut Sink) -> Result<(), DataError>;
}

/// How a load runs.
#[derive(Clone, Copy)]
pub(super) struct Plan {
    /// Parse workers (≥ 1); one parses on the caller's thread alone.
    pub(super) threads: usize,
    /// Timestamps are kept (else dropped as they are parsed).
    pub(super) keep_times: bool,
}

/// Parses every block of `blocks` with `parser` into `builder`, in file
/// order; returns the builder and the parser's state after the last block
/// (the header it read, if any), or the first error in file order.
pub(super) fn run<P: Parse>(
    mut blocks: Blocks<'_>,
    mut parser: P,
    mut builder: RatingsBuilder,
    plan: Plan,
) -> Result<(RatingsBuilder, P), DataError> {
    let mut sink = Sink::new(plan.keep_times);
    // The first blocks on this thread: until the parser is ready, and all
    // of them when one block holds the input or one thread is asked for.
    let first = loop {
        let Some(block) = blocks.next(Vec::new())? else {
            return Ok((builder, parser));
        };
        if parser.ready() && plan.threads > 1 && !blocks.finished() {
            break block;
        }
        parse(&mut parser, &block, Batch::default(), &mut sink)?.push_into(&mut builder);
    };
    let workers = plan.threads;
    let buffers = BUFFERS_PER_WORKER * workers;
    let (to_workers, jobs) = sync_channel::<Job<P>>(workers);
    let jobs = Mutex::new(jobs);
    thread::scope(|scope| {
        let (to_builder, parsed) = channel();
        let (to_reader, free) = sync_channel::<Buffers>(buffers);
        for _ in 0..workers {
            let (jobs, to_builder) = (&jobs, to_builder.clone());
            scope.spawn(move || work(jobs, &to_builder, plan.keep_times));
        }
        drop(to_builder);
        let filling = scope.spawn(move || collect(parsed, &to_reader, builder));
        // Read blocks and hand them out, each with the parser's state at
        // its start, until the input ends, a read fails, or the builder
        // stops at an error (no buffer comes back then).
        let mut index = 0;
        let mut next = Ok(first);
        let mut batch = Batch::default();
        loop {
            let state = parser.clone();
            if let Ok(block) = &next {
                parser.skip(&block.bytes);
            }
            let last = next.is_err();
            let job = Job {
                index,
                block: next,
                batch,
                parser: state,
            };
            if to_workers.send(job).is_err() || last {
                break;
            }
            index += 1;
            let Ok(buf) = (match index < buffers {
                true => Ok(Buffers::default()),
                false => free.recv(),
            }) else {
                break;
            };
            batch = buf.batch;
            next = match blocks.next(buf.bytes).transpose() {
                Some(next) => next,
                None => break,
            };
        }
        drop((to_workers, free));
        let builder = filling
            .join()
            .unwrap_or_else(|panic| panic::resume_unwind(panic))?;
        Ok((builder, parser))
    })
}

/// Parses `block` with `parser` into `batch` (empty), through `sink`.
fn parse<P: Parse>(parser: &mut P, block: &Block, batch: Batch, sink: &mut Sink) -> Parsed {
    sink.batch = batch;
    sink.users.clear();
    sink.items.clear();
    let parsed = parser.parse(block.first_line, &block.bytes, sink);
    let batch = std::mem::take(&mut sink.batch);
    parsed.map(|()| batch)
}

/// A parse worker: takes jobs until there are none, and sends each
/// block's batch (or error) to the builder with the block's bytes.
fn work<P: Parse>(jobs: &Mutex<Receiver<Job<P>>>, to_builder: &Sender<Done>, keep_times: bool) {
    let mut sink = Sink::new(keep_times);
    // The lock is held only while waiting: it is never poisoned.
    while let Ok(Ok(job)) = jobs.lock().map(|jobs| jobs.recv()) {
        let Job {
            index,
            block,
            batch,
            mut parser,
        } = job;
        // A panic goes to the builder, which raises it in block order (and
        // so stops the reader) rather than wait for the block forever.
        let parsed = panic::catch_unwind(AssertUnwindSafe(|| {
            let block = block?;
            parse(&mut parser, &block, batch, &mut sink).map(|batch| (batch, block.bytes))
        }));
        let done = match parsed {
            Ok(Ok((batch, bytes))) => (index, Ok(Ok(batch)), bytes),
            Ok(Err(e)) => (index, Ok(Err(e)), Vec::new()),
            Err(panic) => (index, Err(panic), Vec::new()),
        };
        // Sending fails only once the builder has stopped at an error.
        let _ = to_builder.send(done);
    }
}

/// The builder's thread: pushes the batches into `builder` in block order
/// (holding those that come early), hands their buffers back to the
/// reader; stops at the first error in block order.
fn collect(
    parsed: Receiver<Done>,
    to_reader: &SyncSender<Buffers>,
    mut builder: RatingsBuilder,
) -> Result<RatingsBuilder, DataError> {
    let mut waiting = BTreeMap::new();
    let mut next = 0;
    for (index, batch, bytes) in parsed {
        waiting.insert(index, (batch, bytes));
        while let Some((batch, bytes)) = waiting.remove(&next) {
            let mut batch = batch.unwrap_or_else(|panic| panic::resume_unwind(panic))?;
            batch.push_into(&mut builder);
            // Fails once the reader has read the whole input.
            let _ = to_reader.send(Buffers { bytes, batch });
            next += 1;
        }
    }
    Ok(builder)
}

/// A block's batch, or its first error.
type Parsed = Result<Batch, DataError>;

/// A parsed block for the builder: its index, its batch (or error, or the
/// worker's panic), its bytes for reuse.
type Done = (usize, thread::Result<Parsed>, Vec<u8>);

/// A block for a worker: its place in the file, its bytes (or the read
/// error that ends the input there), an empty batch for its ratings, the
/// parser's state at its start.
struct Job<P> {
    index: usize,
    block: Result<Block, DataError>,
    batch: Batch,
    parser: P,
}

#[cfg(test)]
mod tests;
