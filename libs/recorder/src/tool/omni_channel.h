/* The messages between `omni record` and the omni Valgrind tool, shared by
 * both sides (the tool is C without libc, record.cc is C++): only built-in
 * types, no library calls.
 *
 * They travel on one connection per recorded image to the recorder's
 * Unix-domain stream socket (DIR/control.sock, made by omni record in the
 * private trace directory; --omni-ctl): the tool connects before the
 * program runs and omni record learns its pid from the kernel
 * (SO_PEERCRED), refusing connections from any other process. The recorded
 * program still runs in Valgrind's process: it cannot reopen the
 * connection through /proc/self/fd (a socket does not reopen), but it can
 * dup() the descriptor or send()/recv() on its number (Valgrind guards
 * read/write/close of its reserved descriptors, not the socket calls).
 * Every message therefore carries a sequence number and a SipHash-2-4 MAC
 * under a 128-bit key that `omni record` draws for each recording and hands
 * to the tool through a pipe the tool reads and closes before the program
 * runs (never argv or the environment). A forged, stolen, replayed or
 * garbled message fails its check, and the recording is reported as cut
 * short by tampering, never as complete. (The key is in the tool's memory,
 * which the program shares: a program that searches Valgrind's memory for
 * it can still forge. This guards against reuse of the descriptors, not
 * against a program written to defeat the recorder.)
 *
 * tool -> omni: OMNI_MSG_BYTES each, little-endian
 *   u32 kind, u32 slot, u32 bytes, u32 sequence, u64 mac
 *   HELLO (first, slot 0, 0 bytes): the tool has started (the root image);
 *   HELLO_FORK (first, slot = the parent's pid, 0 bytes): a forked child of
 *   a recorded process, which starts a stream of its own on this new
 *   connection; omni answers with the first RELEASE carrying the child's
 *   slots file as an SCM_RIGHTS descriptor (the root inherits its own);
 *   HELLO_EXEC (first, slot 0, 0 bytes): the image a recorded image of the
 *   same process exec'd (it read the key from the pipe the old image
 *   handed it); answered as HELLO_FORK;
 *   SLOT: the slot holds that many bytes of the stream;
 *   FINAL (slot 0, 0 bytes): sent after the slot holding the EXIT record,
 *   the tool's last message.
 *   Sequence numbers count from 0 at HELLO, per connection.
 * omni -> tool (RELEASE, once HELLO has passed its check): OMNI_RELEASE_BYTES
 *   each, u32 slot, u32 sequence, u64 mac (of kind RELEASE, the slot, 0 bytes
 *   and the sequence); sequence numbers count from 0, per connection.
 * Each message is sent in one call; a stream may deliver it in parts, so
 * each side reads until a message is whole, and a foreign write between two
 * messages shifts what follows and fails too. The connection closing
 * without FINAL means the image ended abnormally (SIGKILL). */
#ifndef OMNI_RECORDER_CHANNEL_H
#define OMNI_RECORDER_CHANNEL_H

/* A register snapshot at least every this many instructions of a thread,
   unless omni record asks otherwise (--omni-snapshot-interval); record.h's
   kDefaultSnapshotInterval is this number. */
#define OMNI_DEFAULT_SNAPSHOT_INTERVAL 8192

#define OMNI_CHANNEL_KEY_BYTES 16u
#define OMNI_MSG_BYTES 24u
#define OMNI_RELEASE_BYTES 16u

#define OMNI_MSG_HELLO 1u
#define OMNI_MSG_SLOT 2u
#define OMNI_MSG_FINAL 3u
#define OMNI_MSG_RELEASE 4u
#define OMNI_MSG_HELLO_FORK 5u
#define OMNI_MSG_HELLO_EXEC 6u

/* The phrase both sides use when a check fails; `omni record` finds it in
   valgrind.log when the tool detected the forgery. */
#define OMNI_TAMPERED_TEXT "the recorder's channel was written or read by something other than the recorder"

typedef unsigned long long omni_u64;
typedef unsigned int omni_u32;
typedef unsigned char omni_u8;

typedef char omni_channel_u64_is_8_bytes[sizeof(omni_u64) == 8 ? 1 : -1];
typedef char omni_channel_u32_is_4_bytes[sizeof(omni_u32) == 4 ? 1 : -1];

static inline omni_u64 omni_load_le64(const omni_u8* p)
{
   omni_u64 v = 0;
   for (int i = 7; i >= 0; i--)
      v = (v << 8) | p[i];
   return v;
}

static inline void omni_store_le64(omni_u8* p, omni_u64 v)
{
   for (int i = 0; i < 8; i++, v >>= 8)
      p[i] = (omni_u8)v;
}

static inline omni_u32 omni_load_le32(const omni_u8* p)
{
   return (omni_u32)p[0] | (omni_u32)p[1] << 8 | (omni_u32)p[2] << 16 | (omni_u32)p[3] << 24;
}

static inline void omni_store_le32(omni_u8* p, omni_u32 v)
{
   for (int i = 0; i < 4; i++, v >>= 8)
      p[i] = (omni_u8)v;
}

#define OMNI_ROTL64(x, b) (omni_u64)(((x) << (b)) | ((x) >> (64 - (b))))
#define OMNI_SIPROUND                                                     \
   do {                                                                   \
      v0 += v1; v1 = OMNI_ROTL64(v1, 13); v1 ^= v0; v0 = OMNI_ROTL64(v0, 32); \
      v2 += v3; v3 = OMNI_ROTL64(v3, 16); v3 ^= v2;                       \
      v0 += v3; v3 = OMNI_ROTL64(v3, 21); v3 ^= v0;                       \
      v2 += v1; v1 = OMNI_ROTL64(v1, 17); v1 ^= v2; v2 = OMNI_ROTL64(v2, 32); \
   } while (0)

/* SipHash-2-4 (Aumasson and Bernstein) of len bytes with a 16-byte key. */
static inline omni_u64 omni_siphash24(const omni_u8* key, const omni_u8* data, unsigned long len)
{
   omni_u64 k0 = omni_load_le64(key), k1 = omni_load_le64(key + 8);
   omni_u64 v0 = 0x736f6d6570736575ull ^ k0;
   omni_u64 v1 = 0x646f72616e646f6dull ^ k1;
   omni_u64 v2 = 0x6c7967656e657261ull ^ k0;
   omni_u64 v3 = 0x7465646279746573ull ^ k1;
   unsigned long whole = len - len % 8;
   for (unsigned long i = 0; i < whole; i += 8) {
      omni_u64 m = omni_load_le64(data + i);
      v3 ^= m;
      OMNI_SIPROUND;
      OMNI_SIPROUND;
      v0 ^= m;
   }
   omni_u64 b = (omni_u64)len << 56;
   for (unsigned long i = whole; i < len; i++)
      b |= (omni_u64)data[i] << (8 * (i - whole));
   v3 ^= b;
   OMNI_SIPROUND;
   OMNI_SIPROUND;
   v0 ^= b;
   v2 ^= 0xff;
   OMNI_SIPROUND;
   OMNI_SIPROUND;
   OMNI_SIPROUND;
   OMNI_SIPROUND;
   return v0 ^ v1 ^ v2 ^ v3;
}

#undef OMNI_SIPROUND
#undef OMNI_ROTL64

/* The MAC of one message: its four u32 fields, little-endian. */
static inline omni_u64 omni_message_mac(const omni_u8* key, omni_u32 kind, omni_u32 slot,
                                        omni_u32 bytes, omni_u32 sequence)
{
   omni_u8 fields[16];
   omni_store_le32(fields, kind);
   omni_store_le32(fields + 4, slot);
   omni_store_le32(fields + 8, bytes);
   omni_store_le32(fields + 12, sequence);
   return omni_siphash24(key, fields, sizeof fields);
}

/* A tool -> omni message, ready to write. */
static inline void omni_encode_message(omni_u8* out, const omni_u8* key, omni_u32 kind,
                                       omni_u32 slot, omni_u32 bytes, omni_u32 sequence)
{
   omni_store_le32(out, kind);
   omni_store_le32(out + 4, slot);
   omni_store_le32(out + 8, bytes);
   omni_store_le32(out + 12, sequence);
   omni_store_le64(out + 16, omni_message_mac(key, kind, slot, bytes, sequence));
}

/* An omni -> tool release of a slot, ready to write. */
static inline void omni_encode_release(omni_u8* out, const omni_u8* key, omni_u32 slot,
                                       omni_u32 sequence)
{
   omni_store_le32(out, slot);
   omni_store_le32(out + 4, sequence);
   omni_store_le64(out + 8, omni_message_mac(key, OMNI_MSG_RELEASE, slot, 0, sequence));
}

/* Whether a release is the one with this sequence number; its slot in *slot. */
static inline int omni_check_release(const omni_u8* in, const omni_u8* key, omni_u32 sequence,
                                     omni_u32* slot)
{
   *slot = omni_load_le32(in);
   return omni_load_le32(in + 4) == sequence &&
          omni_load_le64(in + 8) == omni_message_mac(key, OMNI_MSG_RELEASE, *slot, 0, sequence);
}

#endif
