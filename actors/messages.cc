// Registration of Eventbase's message types and the mapping between status and caf::error.
#include <caf/actor_system_config.hpp>
#include <caf/message.hpp>
#include <caf/sec.hpp>

#include "eventbase/actors.hpp"

namespace eventbase {
namespace {

constexpr caf::atom_value kCategory = caf::atom("eventbase");

std::string render(uint8_t code, caf::atom_value, const caf::message& context) {
  std::string text = to_string(static_cast<errc>(code));
  if (context.match_elements<std::string>()) {
    text += ": ";
    text += context.get_as<std::string>(0);
  }
  return text;
}

}  // namespace

void add_message_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<entry>("eventbase::entry");
  cfg.add_message_type<write_condition>("eventbase::write_condition");
  cfg.add_message_type<change>("eventbase::change");
  cfg.add_message_type<stream_status>("eventbase::stream_status");
  cfg.add_message_type<query_reply>("eventbase::query_reply");
  cfg.add_message_type<put_batch_reply>("eventbase::put_batch_reply");
  cfg.add_message_type<index_info>("eventbase::index_info");
  cfg.add_message_type<std::vector<index_info>>("std::vector<eventbase::index_info>");
  cfg.add_message_type<query_page>("eventbase::query_page");
  cfg.add_message_type<key_history_reply>("eventbase::key_history_reply");
  cfg.add_message_type<batch_result>("eventbase::batch_result");
  cfg.add_message_type<std::vector<std::string>>("std::vector<std::string>");
  cfg.add_message_type<subscriber_actor>("eventbase::subscriber_actor");
  cfg.add_message_type<stream_actor>("eventbase::stream_actor");
  cfg.add_message_type<notice_listener_actor>("eventbase::notice_listener_actor");
  cfg.add_message_type<manager_actor>("eventbase::manager_actor");
  cfg.add_error_category(kCategory, render);
}

caf::error to_error(const status& st) {
  if (st.ok()) return caf::error();
  return caf::error(static_cast<uint8_t>(st.code()), kCategory, caf::make_message(st.message()));
}

status to_status(const caf::error& err) {
  if (!err) return status::OK();
  if (err.category() == kCategory) {
    std::string message;
    if (err.context().match_elements<std::string>()) message = err.context().get_as<std::string>(0);
    return status(static_cast<errc>(err.code()), std::move(message));
  }
  if (err.category() == caf::atom("system")) {
    switch (static_cast<caf::sec>(err.code())) {
      case caf::sec::request_timeout:
        return status(errc::timeout, "no reply within the request timeout");
      case caf::sec::request_receiver_down:
        return status(errc::closed, "the stream actor is gone");
      case caf::sec::remote_linking_failed:
      case caf::sec::cannot_connect_to_node:
      case caf::sec::no_route_to_receiving_node:
        return status(errc::unavailable, caf::to_string(err));
      default:
        break;
    }
  }
  return status(errc::internal, caf::to_string(err));
}

}  // namespace eventbase
