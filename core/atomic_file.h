// core/atomic_file.h — whole-file reads and crash-safe whole-file writes (checkpoints, weights, logs).
//
// A checkpoint written in place is destroyed if the process dies half-way (or the disk fills up): the old
// file is already truncated and the new one is incomplete. write_file_atomic() never touches the target
// until the new contents are safely on disk:
//   1. write everything to  path + ".tmp.<pid>"  in the same directory (rename only works within a filesystem)
//   2. fflush + fsync the temp file          (the bytes are on disk, not just in the page cache)
//   3. rename(temp, path)                    (atomic: readers see the old file or the new one, never a mix)
//   4. fsync the directory                   (the rename itself survives a power cut)
// If any step fails the temp file is removed, the old file at `path` is left as it was, and a tern::Error
// names the path and the system's reason (strerror).
#pragma once
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace tern {

// Writes a file through `writer`, atomically as described above. The writer should write with write_bytes()
// (which throws on a short write); any exception it throws aborts the write and is rethrown.
void write_file_atomic(const std::string& path, const std::function<void(std::FILE*)>& writer);

// fwrite that throws tern::Error on a short write (e.g. disk full), for use inside a writer.
void write_bytes(std::FILE* f, const void* data, size_t size);

// The whole file. Throws tern::Error naming the path if it is missing, not a regular file, or unreadable.
std::vector<uint8_t> read_file(const std::string& path);

// Removes the temp files that write_file_atomic (and probe_writable_dir) left in `dir` when their process was
// killed mid-write: names "<file>.tmp.<pid>" and ".tern-write-probe.<pid>" whose process no longer exists (a
// live writer's file is never touched). Returns how many were removed. A program that writes into a folder repeatedly (train_cifar) calls this when it starts.
int remove_stale_temp_files(const std::string& dir);

// Makes sure `dir` exists (creating it and its parents, like mkdir -p) and that a file can be written there
// atomically, by writing and removing a small probe file. Training apps call this before they start, so an
// unwritable output directory fails in the first second rather than at the first checkpoint hours later.
void probe_writable_dir(const std::string& dir);

}  // namespace tern
