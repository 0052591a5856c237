#include "provbridge/ops/embedded_broker.hpp"

#include <algorithm>
#include <stdexcept>
#include <utility>

#include <librdkafka/rdkafka_mock.h>

#include "provbridge/producers/kafka.hpp"

namespace provbridge::ops {
namespace {

using producers::KafkaConfPtr;
using producers::KafkaHandlePtr;
using producers::kafka_error_text;
using producers::make_conf;

struct MockClusterDeleter {
    void operator()(rd_kafka_mock_cluster_t* cluster) const {
        if (cluster != nullptr) rd_kafka_mock_cluster_destroy(cluster);
    }
};
using MockClusterPtr = std::unique_ptr<rd_kafka_mock_cluster_t, MockClusterDeleter>;

}  // namespace

struct EmbeddedBroker::Impl {
    producers::KafkaLogFn log;
    int brokers = 0;
    std::string bootstrap;
    // The cluster lives inside this handle and must be destroyed before it (librdkafka
    // asserts otherwise), hence the explicit order in the destructor.
    KafkaHandlePtr owner;
    MockClusterPtr cluster;

    ~Impl() {
        cluster.reset();
        owner.reset();
    }

    static void on_log(const rd_kafka_t* rk, int level, const char* facility, const char* text) {
        auto* self = static_cast<Impl*>(rd_kafka_opaque(rk));
        if (self == nullptr || !self->log) return;
        try {
            self->log(level, facility != nullptr ? facility : "", text != nullptr ? text : "");
        } catch (...) {
            // Never unwind through librdkafka.
        }
    }
};

EmbeddedBroker::EmbeddedBroker(int brokers, const std::vector<Topic>& topics, producers::KafkaLogFn log)
    : impl_(std::make_unique<Impl>()) {
    if (brokers < 1) throw std::runtime_error("embedded broker: need at least one broker");
    impl_->log = std::move(log);
    impl_->brokers = brokers;
    // The owning handle never talks to a cluster itself; it only hosts the mock's thread.
    // The mock drops the connection of any request larger than its hosting handle's
    // receive.message.max.bytes, which a client would only see as a timeout; at librdkafka's
    // maximum every request a client may send fits.
    std::map<std::string, std::string> props{{"client.id", "provbridge-embedded-broker"},
                                             {"receive.message.max.bytes", "2147483647"}};
    if (!impl_->log) props["log_level"] = "3";
    KafkaConfPtr conf = make_conf(props);
    rd_kafka_conf_set_opaque(conf.get(), impl_.get());
    if (impl_->log) rd_kafka_conf_set_log_cb(conf.get(), &Impl::on_log);
    char errstr[512] = {0};
    impl_->owner.reset(rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), errstr, sizeof errstr));
    if (!impl_->owner) throw std::runtime_error(std::string("embedded broker: ") + errstr);
    conf.release();  // owned by the handle from here on

    impl_->cluster.reset(rd_kafka_mock_cluster_new(impl_->owner.get(), brokers));
    if (!impl_->cluster) throw std::runtime_error("embedded broker: cannot start mock cluster");
    impl_->bootstrap = rd_kafka_mock_cluster_bootstraps(impl_->cluster.get());
    for (const auto& topic : topics) {
        auto created = create_topic(topic);
        if (!created) throw std::runtime_error("embedded broker: " + created.error().message);
    }
}

EmbeddedBroker::~EmbeddedBroker() = default;
EmbeddedBroker::EmbeddedBroker(EmbeddedBroker&&) noexcept = default;
EmbeddedBroker& EmbeddedBroker::operator=(EmbeddedBroker&&) noexcept = default;

const std::string& EmbeddedBroker::bootstrap_servers() const { return impl_->bootstrap; }

int EmbeddedBroker::broker_count() const { return impl_->brokers; }

Result<bool> EmbeddedBroker::create_topic(const Topic& topic) {
    if (topic.name.empty() || topic.partitions < 1) {
        return make_error("topic \"" + topic.name + "\": needs a name and at least one partition");
    }
    const rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(
        impl_->cluster.get(), topic.name.c_str(), topic.partitions, std::min(3, impl_->brokers));
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return make_error("cannot create topic \"" + topic.name + "\": " + kafka_error_text(err));
    }
    return true;
}

Result<bool> EmbeddedBroker::fail_next_requests(std::int16_t api_key, const std::vector<rd_kafka_resp_err_t>& errors) {
    if (errors.empty()) return true;
    rd_kafka_mock_push_request_errors_array(impl_->cluster.get(), api_key, errors.size(), errors.data());
    return true;
}

bool EmbeddedBroker::is_embedded_cluster_id(std::string_view cluster_id) {
    return cluster_id.rfind("mockCluster", 0) == 0;
}

Result<bool> EmbeddedBroker::set_broker_up(std::int32_t broker_id, bool up) {
    const rd_kafka_resp_err_t err =
        up ? rd_kafka_mock_broker_set_up(impl_->cluster.get(), broker_id)
           : rd_kafka_mock_broker_set_down(impl_->cluster.get(), broker_id);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return make_error("cannot set broker " + std::to_string(broker_id) + (up ? " up: " : " down: ") +
                          kafka_error_text(err));
    }
    return true;
}

}  // namespace provbridge::ops
