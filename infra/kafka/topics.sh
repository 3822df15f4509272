#!/bin/sh
# Creates the platform's topics and their dead-letter topics with the topic settings the
# processes use (kit.settings.TopicSettings: same variables, same defaults); existing topics are
# left as they are. compose.yaml runs it once the Kafka nodes are up; on Kubernetes the
# KafkaTopics in k8s/kafka/topics.yaml do the same.
#
#   BOOTSTRAP=kafka-1:19092 SUISHIN_TOPIC_REPLICATION_FACTOR=3 sh topics.sh
#
# COMMAND_CONFIG: client settings file for a cluster with authentication (compose.acl.yaml).
set -eu

BOOTSTRAP=${BOOTSTRAP:-kafka-1:19092}
COMMAND_CONFIG=${COMMAND_CONFIG:-}
KAFKA_TOPICS=${KAFKA_TOPICS:-/opt/kafka/bin/kafka-topics.sh}
PARTITIONS=${SUISHIN_TOPIC_PARTITIONS:-6}
REPLICATION_FACTOR=${SUISHIN_TOPIC_REPLICATION_FACTOR:-1}
MIN_INSYNC_REPLICAS=${SUISHIN_TOPIC_MIN_INSYNC_REPLICAS:-1}
RETENTION_MS=${SUISHIN_TOPIC_RETENTION_MS:-604800000}
DLQ_RETENTION_MS=${SUISHIN_DLQ_RETENTION_MS:-2592000000}

TOPICS="indicator.reported indicator.status_changed measure.status_changed measure.evaluated notification.delivered progress_report.workflow plan.milestone_due"

create() {  # create NAME RETENTION_MS [PARTITIONS]
  # shellcheck disable=SC2086  # COMMAND_CONFIG: two words or none
  "$KAFKA_TOPICS" --bootstrap-server "$BOOTSTRAP" ${COMMAND_CONFIG:+--command-config $COMMAND_CONFIG} \
    --create --if-not-exists --topic "$1" \
    --partitions "${3:-$PARTITIONS}" --replication-factor "$REPLICATION_FACTOR" \
    --config "min.insync.replicas=$MIN_INSYNC_REPLICAS" --config "retention.ms=$2" > /dev/null
  echo "topic $1: partitions ${3:-$PARTITIONS}, replicas $REPLICATION_FACTOR," \
    "min.insync.replicas $MIN_INSYNC_REPLICAS, retention.ms $2"
}

for topic in $TOPICS; do
  create "$topic" "$RETENTION_MS"
  create "$topic.dlq" "$DLQ_RETENTION_MS"
done

# kit.brokerwatch's epoch marker: state, one partition, never deleted by retention.
create _suishin.broker-epoch -1 1
