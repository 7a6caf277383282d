// The outside application of the install test: starts a node with a nats-server of its own in
// the directory given as its argument, writes a document through the C++ API and reads it back.
// Prints the document and exits 0, or the error and exits 1.
#include <iostream>

#include <eventbase/eventbase.hpp>
#include <eventbase/node.hpp>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: consumer DATA_DIR\n";
    return 2;
  }
  eventbase::node_config node_config;
  node_config.data_path = std::string(argv[1]) + "/node";
  node_config.port = 0;
  node_config.nats.user = "consumer";
  node_config.nats.password = "consumer-secret";
  auto node = eventbase::node::start(node_config);
  if (!node.ok()) {
    std::cerr << "node: " << node.error().to_string() << "\n";
    return 1;
  }
  eventbase::stream_config config;
  config.stream_name = "installed";
  config.nats = node_config.nats;
  config.nats.servers = {node->nats_url()};
  config.data_path = std::string(argv[1]) + "/app";
  auto db = eventbase::stream::open(config);
  if (!db.ok()) {
    std::cerr << "open: " << db.error().to_string() << "\n";
    return 1;
  }
  auto put = db->put("k", {{"from", "outside"}});
  auto got = db->get("k");
  if (!put.ok() || !got.ok() || !*got) {
    std::cerr << "put/get failed\n";
    return 1;
  }
  std::cout << (*got)->data.dump() << std::endl;
  db->close();
  return node->stop().ok() ? 0 : 1;
}
