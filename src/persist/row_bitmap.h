// Row bitmaps read back from disk (the row numbers of WAL delete and compact records, and
// snapshot tombstones) in Roaring's portable serialization. CRoaring's reader checks only that
// the bytes hold the containers they announce, not what is in them: a damaged file could give
// a bitmap whose counts disagree with its contents (values out of order, a wrong cardinality,
// runs past their 64Ki range). This reader refuses those too. (CRoaring 0.2, Debian 12's, has
// no roaring_bitmap_internal_validate; newer ones do.)
#pragma once

#include <arrow/result.h>

#include <roaring/roaring.hh>
#include <string_view>

namespace arbalest {

// The bitmap serialized in `bytes`, which it must fill exactly. Invalid says what is wrong, as
// a sentence of its own.
arrow::Result<Roaring> ReadRowBitmap(std::string_view bytes);

}  // namespace arbalest
