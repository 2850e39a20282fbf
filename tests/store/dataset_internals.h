// Test access to a dataset's private commit mutexes (a friend of Dataset), so that a test can
// hold one as a change in flight would, and check that others wait for it or go on; and to the
// id map they guard.
#pragma once

#include "common/mutex.h"
#include "store/dataset.h"

namespace arbalest {

class DatasetInternalsForTest {
 public:
  static Mutex& append_mutex(Dataset& dataset) RETURN_CAPABILITY(dataset.append_mutex_) {
    return dataset.append_mutex_;
  }
  static Mutex& delete_mutex(Dataset& dataset) RETURN_CAPABILITY(dataset.delete_mutex_) {
    return dataset.delete_mutex_;
  }
  static SharedMutex& id_map_mutex(Dataset& dataset) RETURN_CAPABILITY(dataset.id_map_mutex_) {
    return dataset.id_map_mutex_;
  }
  static const IdRowMap& id_rows(Dataset& dataset) REQUIRES_SHARED(dataset.id_map_mutex_) {
    return dataset.id_rows_;
  }
};

}  // namespace arbalest
