// A Kafka adapter file: the raw librdkafka handles stay here (see producers/kafka.hpp).
#include "provbridge/consumers/consumer_lag.hpp"

#include <memory>

#include "provbridge/producers/kafka.hpp"

namespace provbridge::consumers {
namespace {

struct MetadataDeleter {
    void operator()(const rd_kafka_metadata_t* metadata) const {
        if (metadata != nullptr) rd_kafka_metadata_destroy(metadata);
    }
};
using MetadataPtr = std::unique_ptr<const rd_kafka_metadata_t, MetadataDeleter>;

Error kafka_failure(const std::string& what, rd_kafka_resp_err_t err) {
    return make_error(what + ": " + rd_kafka_err2str(err) + " (" + rd_kafka_err2name(err) + ")", ErrorKind::Transient);
}

}  // namespace

Result<std::vector<PartitionLag>> read_consumer_lag(const std::map<std::string, std::string>& properties,
                                                    const std::vector<std::string>& topics,
                                                    std::chrono::milliseconds timeout) {
    producers::KafkaConfPtr conf;
    try {
        conf = producers::make_conf(properties);
    } catch (const std::exception& e) {
        return make_error(e.what(), ErrorKind::Permanent);
    }
    char errstr[512] = {};
    producers::KafkaHandlePtr handle(rd_kafka_new(RD_KAFKA_CONSUMER, conf.get(), errstr, sizeof errstr));
    if (!handle) return make_error(std::string("cannot create a Kafka client: ") + errstr, ErrorKind::Permanent);
    (void)conf.release();  // rd_kafka_new took it
    const int ms = static_cast<int>(timeout.count());

    producers::TopicPartitionListPtr list(rd_kafka_topic_partition_list_new(8));
    for (const auto& topic : topics) {
        const rd_kafka_metadata_t* raw = nullptr;
        std::unique_ptr<rd_kafka_topic_t, decltype(&rd_kafka_topic_destroy)> rkt(
            rd_kafka_topic_new(handle.get(), topic.c_str(), nullptr), &rd_kafka_topic_destroy);
        const auto err = rd_kafka_metadata(handle.get(), 0, rkt.get(), &raw, ms);
        MetadataPtr metadata(raw);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return kafka_failure("cannot read the partitions of " + topic, err);
        for (int t = 0; t < metadata->topic_cnt; ++t) {
            const auto& described = metadata->topics[t];
            if (described.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
                return kafka_failure("cannot read the partitions of " + topic, described.err);
            }
            for (int p = 0; p < described.partition_cnt; ++p) {
                rd_kafka_topic_partition_list_add(list.get(), described.topic, described.partitions[p].id);
            }
        }
    }
    if (const auto err = rd_kafka_committed(handle.get(), list.get(), ms); err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return kafka_failure("cannot read the group's committed offsets", err);
    }
    std::vector<PartitionLag> out;
    for (int i = 0; i < list->cnt; ++i) {
        const auto& elem = list->elems[i];
        PartitionLag lag;
        lag.topic = elem.topic;
        lag.partition = elem.partition;
        lag.committed = elem.err == RD_KAFKA_RESP_ERR_NO_ERROR && elem.offset >= 0 ? elem.offset : -1;
        std::int64_t low = 0;
        std::int64_t high = 0;
        const auto err = rd_kafka_query_watermark_offsets(handle.get(), elem.topic, elem.partition, &low, &high, ms);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            return kafka_failure("cannot read the offsets of " + lag.topic + "[" + std::to_string(lag.partition) + "]",
                                 err);
        }
        lag.log_start = low;
        lag.log_end = high;
        lag.lag = std::max<std::int64_t>(0, high - std::max(lag.committed, low));
        out.push_back(std::move(lag));
    }
    return out;
}

}  // namespace provbridge::consumers
