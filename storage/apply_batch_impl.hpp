// What an apply_batch writes (internal to storage/: stream_store.cc and indexes.cc share it).
#pragma once

#include <rocksdb/write_batch.h>

#include "storage/stream_store.hpp"

namespace eventbase::storage {

struct apply_batch::impl {
  rocksdb::WriteBatch batch;
};

}  // namespace eventbase::storage
