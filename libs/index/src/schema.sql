-- The omni index: one SQLite file per recording (index.db in the trace
-- directory). This file is the one definition of its format; omni compiles it
-- in. Bump user_version (and kSchemaVersion in db.h) on any change: omni
-- refuses to read an index of another version and asks for `omni index` again.
-- A `crc` column is the row's check value (libs/index/src/integrity.h,
-- RowCheck: FNV-1a 64 of its other columns but zstd frames, folded to a
-- signed 32-bit integer), checked whenever the reader reads the row.
PRAGMA application_id = 1330466377;  -- 0x4F4D4E49, "OMNI"
PRAGMA user_version = 15;

-- Facts about the recording and the index: program, exit_code or signal,
-- instructions, writes, complete (1 once the index was fully built),
-- stream_complete (0 when the recording was cut short), ...
CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value ANY
) WITHOUT ROWID;

-- The recorded command line, argv[0] first.
CREATE TABLE args (
  idx INTEGER PRIMARY KEY,
  arg TEXT NOT NULL
);

-- Every address-space change, in time order. prot is "rwx" style, with an
-- "s" after it for a shared mapping (MAP_SHARED, SysV shm); path and offset
-- describe a file-backed mapping.
CREATE TABLE maps (
  seq    INTEGER PRIMARY KEY,
  time   INTEGER NOT NULL,
  event  TEXT NOT NULL,  -- startup, mmap, munmap, mprotect, brk-grow, brk-shrink
  start  INTEGER NOT NULL,
  length INTEGER NOT NULL,
  prot   TEXT NOT NULL,
  path   TEXT,
  offset INTEGER
);

-- Each loaded ELF object: run-time address = link-time address + bias.
-- [start, end) covers its mappings; time_unloaded is NULL if still mapped.
CREATE TABLE objects (
  id            INTEGER PRIMARY KEY,
  path          TEXT NOT NULL,
  build_id      TEXT,
  bias          INTEGER NOT NULL,
  start         INTEGER NOT NULL,
  end           INTEGER NOT NULL,
  time_loaded   INTEGER NOT NULL,
  time_unloaded INTEGER
);

-- Threads by the recorder's thread id (1 = the main thread); lwp is the
-- kernel's thread id in the recorded run.
CREATE TABLE threads (
  tid           INTEGER PRIMARY KEY,
  lwp           INTEGER,
  parent        INTEGER,
  time_created  INTEGER,
  time_exited   INTEGER
);

-- Every system call: time of the syscall instruction, thread, number, six
-- arguments (as signed 64-bit integers), result (-errno on failure; NULL when
-- the call did not return: exit, exit_group, execve).
CREATE TABLE syscalls (
  seq    INTEGER PRIMARY KEY,
  time   INTEGER NOT NULL,
  tid    INTEGER NOT NULL,
  nr     INTEGER NOT NULL,
  a0     INTEGER NOT NULL,
  a1     INTEGER NOT NULL,
  a2     INTEGER NOT NULL,
  a3     INTEGER NOT NULL,
  a4     INTEGER NOT NULL,
  a5     INTEGER NOT NULL,
  result INTEGER,
  -- Its place among every recorded process's events (stream.h SEQ): taken
  -- when the call was made and when it returned; null when the stream has
  -- none (an older recording) or the call did not return.
  gseq_enter INTEGER,
  gseq_exit  INTEGER
);
CREATE INDEX syscalls_by_time ON syscalls (time);

-- What the program wrote to stdout (fd 1) and stderr (fd 2), byte for byte,
-- at the time of the writing syscall. A long write may span several rows of
-- the same time.
CREATE TABLE output (
  seq  INTEGER PRIMARY KEY,
  time INTEGER NOT NULL,
  tid  INTEGER NOT NULL,
  fd   INTEGER NOT NULL,
  data BLOB NOT NULL,
  gseq INTEGER  -- the writing call's gseq_enter (null: none recorded)
);
CREATE INDEX output_by_time ON output (time);

-- Writable memory as it was before the first instruction (non-zero pages of
-- the stack, .data, .bss...). Memory at time T is this, else the mapped
-- file's bytes, else zero, with every write up to T applied.
CREATE TABLE initial_memory (
  addr INTEGER PRIMARY KEY,
  data BLOB NOT NULL,
  crc  INTEGER NOT NULL  -- of addr, data
);

-- Write events in time order, in chunks. `data` is a zstd frame of the
-- columnar chunk encoding described in docs/index-format.md.
-- Ids are dense from 0 (meta "chunks" of them): a reader looks one up by id
-- or time without reading the others, and a deleted row is a gap.
CREATE TABLE chunks (
  id         INTEGER PRIMARY KEY,
  time_first INTEGER NOT NULL,
  time_last  INTEGER NOT NULL,
  events     INTEGER NOT NULL,
  raw_bytes  INTEGER NOT NULL,
  crc        INTEGER NOT NULL,  -- of id, time_first, time_last, events, raw_bytes
  -- Last: a row's numbers are read without reading past its data.
  data       BLOB NOT NULL
);

-- For each chunk and 4 KiB page it wrote, what every 8-byte granule it
-- wrote there held after its last write (encoding in docs/index-format.md):
-- memory at a time after the chunk comes from this instead of decoding it.
-- A rowid table with its key in an index: rows of over ~1 KB overflow a
-- WITHOUT ROWID table's cells, and SQLite then reads a whole row at every
-- key comparison of a lookup.
CREATE TABLE chunk_finals (
  id    INTEGER PRIMARY KEY,
  chunk INTEGER NOT NULL,
  page  INTEGER NOT NULL,
  data  BLOB NOT NULL,
  crc   INTEGER NOT NULL  -- of chunk, page
);
CREATE UNIQUE INDEX chunk_finals_key ON chunk_finals (chunk, page);

-- Address index: which chunks wrote which 8-byte granules. One row per 4 KiB
-- page and segment (a run of kWriteChunksPerSegment chunks) in which the page
-- was written; `granules` lists, for each granule of the page written in the
-- segment, the chunk ids that wrote it, then, for each granule written before
-- the segment, the last chunk that did (encoding in docs/index-format.md): a
-- lookup reads one row, however long ago the granule was written. A rowid
-- table, as chunk_finals: hot pages' rows are kilobytes.
CREATE TABLE write_index (
  id      INTEGER PRIMARY KEY,
  page    INTEGER NOT NULL,
  segment INTEGER NOT NULL,
  granules BLOB NOT NULL,
  crc     INTEGER NOT NULL  -- of page, segment, granules
);
CREATE UNIQUE INDEX write_index_key ON write_index (page, segment);

-- Which thread ran from each time on (until the next row): replay of a
-- thread's registers never crosses the end of its stretch.
CREATE TABLE thread_runs (
  time INTEGER NOT NULL,
  tid  INTEGER NOT NULL,
  crc  INTEGER NOT NULL  -- of time, tid
);
CREATE INDEX thread_runs_by_time ON thread_runs (time);

-- Superblocks as Valgrind translated and ran them: guest entry address, time
-- of translation and the VEX IR (stream.h's OMNI_IR encoding, zstd frame;
-- from schema 15, after a process's first 1,024 compressed with the
-- dictionary of block_dicts its frame names).
CREATE TABLE blocks (
  id   INTEGER PRIMARY KEY,
  addr INTEGER NOT NULL,
  time INTEGER NOT NULL,
  ir   BLOB NOT NULL,
  crc  INTEGER NOT NULL  -- of id, addr, time
);
CREATE INDEX blocks_by_addr ON blocks (addr, time);

-- Register snapshots: a thread's whole guest state (Valgrind's
-- VexGuestAMD64State, zstd frame) at the entry of a block, and the values
-- replay from it consumes until the thread's next snapshot (zstd frame of
-- varint time delta, varint size, bytes; NULL when there are none).
CREATE TABLE snapshots (
  tid    INTEGER NOT NULL,
  time   INTEGER NOT NULL,
  seq    INTEGER NOT NULL,
  state  BLOB NOT NULL,
  vals   BLOB,
  crc    INTEGER NOT NULL,  -- of tid, time, seq
  PRIMARY KEY (tid, time, seq)
) WITHOUT ROWID;

-- The zstd dictionary of the snapshots' states (schema 14 on), trained on a
-- process's first 512 snapshots: each later state's frame names its id.
-- None when zstd could not train one (or fewer snapshots were taken).
CREATE TABLE snapshot_dicts (
  id   INTEGER PRIMARY KEY,  -- the dictionary's zstd id
  dict BLOB NOT NULL,
  crc  INTEGER NOT NULL      -- of id, dict
);

-- The zstd dictionary of the blocks' IR (schema 15 on), trained on a
-- process's first 1,024 translations: each later IR frame names its id.
CREATE TABLE block_dicts (
  id   INTEGER PRIMARY KEY,  -- the dictionary's zstd id
  dict BLOB NOT NULL,
  crc  INTEGER NOT NULL      -- of id, dict
);

-- Calls in call order, kCallsPerChunk to a chunk (encoding in
-- docs/index-format.md): time, end time, thread, call site, target, rsp at
-- entry, parent call and depth, how the frame began (call, tail call,
-- signal handler) and ended (returned, unwound, open), paired by rsp so that
-- longjmp, exceptions and unmatched returns unwind correctly.
CREATE TABLE call_chunks (
  id         INTEGER PRIMARY KEY,
  time_first INTEGER NOT NULL,
  time_last  INTEGER NOT NULL,
  calls      INTEGER NOT NULL,
  data       BLOB NOT NULL
);
-- Which call chunks hold calls to each target.
CREATE TABLE call_targets (
  target INTEGER NOT NULL,
  chunk  INTEGER NOT NULL,
  crc    INTEGER NOT NULL,  -- of target, chunk
  PRIMARY KEY (target, chunk)
) WITHOUT ROWID;

-- Block entries in time order, kExecsPerChunk to a chunk (encoding in
-- docs/index-format.md): every entry into a superblock the stream logs, and
-- the moments a thread was stopped mid-block (boundaries: a signal's
-- delivery, the exit). time_end: the time of the first entry after the
-- chunk (NULL: none, the recording ended), which bounds its last entry.
CREATE TABLE exec_chunks (
  id         INTEGER PRIMARY KEY,
  time_first INTEGER NOT NULL,
  time_last  INTEGER NOT NULL,
  time_end   INTEGER,
  entries    INTEGER NOT NULL,
  data       BLOB NOT NULL
);
-- Which exec chunks hold entries of each block (blocks.id): one row per
-- block and segment (kChunksPerSegment chunks), `chunks` a varint count then
-- varint chunk-id deltas (the first from segment x kChunksPerSegment);
-- segment -1 (chunks empty): the block has no sites, so the stream does not
-- log its entries.
CREATE TABLE exec_blocks (
  block   INTEGER NOT NULL,
  segment INTEGER NOT NULL,
  chunks  BLOB NOT NULL,
  crc     INTEGER NOT NULL,  -- of block, segment, chunks
  PRIMARY KEY (block, segment)
) WITHOUT ROWID;

-- Symbols of the code the recording ran, computed once after the build
-- (`omni index`; meta "symbols" = 1 once stored) so that questions read no
-- DWARF and a moved recording answers without its binaries. The data are
-- zstd frames of libs/symbols/precomputed.h's encodings, which only that
-- library reads. code_symbols: per object (objects.id) and 4 KiB page of
-- run-time addresses, the locations and inline chains of every translated
-- instruction address in it. function_symbols: per object, the parameters
-- and return types of the functions the recording called there.
CREATE TABLE code_symbols (
  object INTEGER NOT NULL,
  page   INTEGER NOT NULL,  -- run-time address >> 12
  data   BLOB NOT NULL,
  crc    INTEGER NOT NULL,  -- of object, page
  PRIMARY KEY (object, page)
) WITHOUT ROWID;

CREATE TABLE function_symbols (
  object INTEGER PRIMARY KEY,
  data   BLOB NOT NULL,
  crc    INTEGER NOT NULL  -- of object
);

-- Covering indexes of the chunk tables' time ranges: a question reads the
-- list of chunks whole (and checks it), and a scan of the table itself reads
-- every row's data pages (~40 ms per table at 5x10^9 instructions).
CREATE INDEX chunks_meta ON chunks (id, time_first, time_last, events, raw_bytes, crc);
CREATE INDEX call_chunks_meta ON call_chunks (id, time_first, time_last, calls);
CREATE INDEX exec_chunks_meta ON exec_chunks (id, time_first, time_last, time_end, entries);
