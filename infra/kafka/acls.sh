#!/bin/sh
# Kafka ACLs of the platform: one principal per process, each allowed what it does and no more.
# Run once against a Kafka cluster with an authorizer (compose.acl.yaml runs it for compose;
# on Kubernetes, k8s/kafka/users.yaml declares the same ACLs as Strimzi KafkaUsers).
#
#   BOOTSTRAP=kafka-1:19092 COMMAND_CONFIG=/etc/suishin-kafka/admin.properties sh acls.sh
#
# Internal topics are written only by the service that owns them; the external producer
# principal (municipal systems that report actuals) may write indicator.reported and nothing else.
set -eu

BOOTSTRAP=${BOOTSTRAP:-kafka-1:19092}
COMMAND_CONFIG=${COMMAND_CONFIG:-/etc/suishin-kafka/admin.properties}
KAFKA_ACLS=${KAFKA_ACLS:-/opt/kafka/bin/kafka-acls.sh}

TOPICS="indicator.reported indicator.status_changed measure.status_changed measure.evaluated notification.delivered progress_report.workflow plan.milestone_due"

acl() {  # acl PRINCIPAL OPERATION --topic NAME | --group PREFIX
  principal=$1 operation=$2 kind=$3 name=$4
  pattern=literal
  if [ "$kind" = "--group" ]; then pattern=prefixed; fi
  "$KAFKA_ACLS" --bootstrap-server "$BOOTSTRAP" --command-config "$COMMAND_CONFIG" --add \
    --allow-principal "User:$principal" --operation "$operation" \
    "$kind" "$name" --resource-pattern-type "$pattern" > /dev/null
  echo "User:$principal $operation $kind $name"
}

# Every service checks at start that the platform's topics exist (metadata only).
for service in plans indicators notifications gateway; do
  for topic in $TOPICS; do
    acl "$service" Describe --topic "$topic"
    acl "$service" Describe --topic "$topic.dlq"
  done
done

# The services watch the broker's life (kit.brokerwatch, no consumer group): read the epoch
# topic and, finding it empty, write the epoch record.
acl plans Describe --topic _suishin.broker-epoch
acl plans Read --topic _suishin.broker-epoch
acl plans Write --topic _suishin.broker-epoch
acl indicators Describe --topic _suishin.broker-epoch
acl indicators Read --topic _suishin.broker-epoch
acl indicators Write --topic _suishin.broker-epoch
acl notifications Describe --topic _suishin.broker-epoch
acl notifications Read --topic _suishin.broker-epoch
acl notifications Write --topic _suishin.broker-epoch

# indicators: applies reported actuals, announces status changes.
acl indicators Read --topic indicator.reported
acl indicators Read --group indicators.
acl indicators Write --topic indicator.status_changed
acl indicators Write --topic indicator.reported.dlq

# plans: grades measures from indicator statuses.
acl plans Read --topic indicator.status_changed
acl plans Read --group plans.
acl plans Write --topic measure.status_changed
acl plans Write --topic measure.evaluated
acl plans Write --topic progress_report.workflow
acl plans Write --topic plan.milestone_due
acl plans Write --topic indicator.status_changed.dlq

# notifications: alerts from statuses and grades, announces deliveries.
acl notifications Read --topic indicator.status_changed
acl notifications Read --topic measure.status_changed
acl notifications Read --topic measure.evaluated
acl notifications Read --topic progress_report.workflow
acl notifications Read --topic plan.milestone_due
acl notifications Read --group notifications.
acl notifications Write --topic notification.delivered
acl notifications Write --topic indicator.status_changed.dlq
acl notifications Write --topic measure.status_changed.dlq
acl notifications Write --topic measure.evaluated.dlq
acl notifications Write --topic progress_report.workflow.dlq
acl notifications Write --topic plan.milestone_due.dlq

# gateway: live subscriptions (no consumer group: it assigns itself every partition).
acl gateway Read --topic notification.delivered
acl gateway Read --topic indicator.status_changed

# external producers: report actuals, nothing else.
acl external-producer Write --topic indicator.reported
