// Atomic batches as text: the JSON lines `eventbase batch` reads and the actor message
// batch_atom carries, one write per line (README "Atomic batches"):
//   {"op":"put","key":K,"data":D}            with optional "ifRevision":R, "ifAbsent":true,
//                                            "ttl":SECONDS
//   {"op":"delete","key":K}                  with optional "ifRevision":R
// Blank lines are skipped. Input from a peer: every line is bounded before it is parsed, and a
// batch is refused whole at its first bad line, naming it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "eventbase/batch.hpp"
#include "eventbase/status.hpp"

namespace eventbase::protocol {

/// The writes of `text`. invalid_argument naming the line ("line 3: ...") for a line that is
/// not one of the forms above, a bad key, a document that is not valid JSON (or nests too
/// deep), a TTL out of range, a delete with ifAbsent, both conditions, or a key written twice;
/// too_large beyond kMaxBatchWrites writes (counted before anything is parsed); invalid_argument
/// for a batch without writes. Documents come back as JavaScript writes them
/// (canonical_document).
result<std::vector<batch_op>> parse_batch(std::string_view text);

/// The JSON lines of `ops` (documents as given), which parse_batch reads back.
std::string batch_lines(const std::vector<batch_op>& ops);

/// The checks of parse_batch on writes given as a vector (the C++ API); canonicalises the
/// documents in place.
status validate_batch(std::vector<batch_op>& ops);

}  // namespace eventbase::protocol
