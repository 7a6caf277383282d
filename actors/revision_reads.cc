// revision_reads (see revision_reads.hpp).
#include "actors/revision_reads.hpp"

#include "protocol/names.hpp"

namespace eventbase::actors {

void revision_reads::get_at(const std::string& key, uint64_t revision,
                            std::function<void(result<std::string>)> done) {
  if (auto bad = protocol::validate_key(key); !bad.ok()) return done(bad);
  // Once the replica holds every event up to `revision`, a key whose latest event here is no
  // later is as it was then; otherwise its kept events say.
  auto answer = [this, key, revision, done](const status& st) {
    auto now_at = st.ok() ? store_.revision(key) : result<uint64_t>(st);
    if (now_at.ok() && revision > horizon_.consistent())
      now_at = status(errc::invalid_argument,
                      "revision " + std::to_string(revision) + " is beyond the end of '" + stream_ +
                          "' (its last revision is " + std::to_string(horizon_.consistent()) + ")");
    if (!now_at.ok()) return done(now_at.error());
    if (*now_at <= revision) return done(reader_.get(key));
    history_.read(key, per_subject_limit_(), [key, revision, done](result<key_history::kept> kept) {
      done(kept.ok() ? key_history::at_revision(*kept, key, revision)
                     : result<std::string>(kept.error()));
    });
  };
  if (revision <= horizon_.consistent())
    answer(status::OK());
  else
    barrier_.await_consistency(std::move(answer));
}

void revision_reads::history(const std::string& key, uint64_t limit,
                             std::function<void(result<key_history_reply>)> done) {
  if (auto bad = protocol::validate_key(key); !bad.ok()) return done(bad);
  history_.read(key, per_subject_limit_(), [limit, done](result<key_history::kept> kept) {
    if (!kept.ok()) return done(kept.error());
    key_history_reply out;
    auto& events = kept->events;
    for (auto it = events.rbegin(); it != events.rend(); ++it) {
      if (limit != 0 && out.revisions.size() == limit) break;
      out.revisions.push_back(it->revision);
      out.events.push_back(std::move(it->payload));
    }
    done(std::move(out));
  });
}

}  // namespace eventbase::actors
