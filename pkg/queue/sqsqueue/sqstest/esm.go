package sqstest

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// EventSourceMapping plays Lambda's SQS event source mapping with
// ReportBatchItemFailures: it receives a batch, invokes the function with
// it as an events.SQSEvent, and deletes every record the function did not
// list as failed. Listed records stay and come back after their visibility
// timeout (or the visibility the function set).
type EventSourceMapping struct {
	Client   *sqs.Client
	QueueURL string
	// BatchSize per receive, 1..10; default 10.
	BatchSize int32
	// WaitSeconds of the long poll; default 1.
	WaitSeconds int32
}

// Record is what happened to one record in a [EventSourceMapping.Poll].
type Record struct {
	Message types.Message
	Listed  bool
}

// Poll does one receive-invoke-delete round. It returns no records when
// the queue had none. invoke gets the event JSON and returns the
// function's response JSON; an invoke error is returned as is (a real
// mapping would retry the whole batch).
func (m EventSourceMapping) Poll(ctx context.Context, invoke func(ctx context.Context, event []byte) ([]byte, error)) ([]Record, error) {
	if m.BatchSize == 0 {
		m.BatchSize = 10
	}
	if m.WaitSeconds == 0 {
		m.WaitSeconds = 1
	}
	arn, err := m.Client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(m.QueueURL), AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn}})
	if err != nil {
		return nil, fmt.Errorf("sqstest: queue ARN: %w", err)
	}
	out, err := m.Client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl: aws.String(m.QueueURL), MaxNumberOfMessages: m.BatchSize, WaitTimeSeconds: m.WaitSeconds,
		MessageAttributeNames:       []string{"All"},
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
		//lint:ignore SA1019 local-aws-sqs reports receive counts only when the deprecated AttributeNames asks for them
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameAll},
	})
	if err != nil {
		return nil, fmt.Errorf("sqstest: receive: %w", err)
	}
	if len(out.Messages) == 0 {
		return nil, nil
	}
	ev := Event(out.Messages, arn.Attributes[string(types.QueueAttributeNameQueueArn)])
	raw, err := json.Marshal(ev)
	if err != nil {
		return nil, err
	}
	respRaw, err := invoke(ctx, raw)
	if err != nil {
		return nil, err
	}
	var resp events.SQSEventResponse
	if err := json.Unmarshal(respRaw, &resp); err != nil {
		return nil, fmt.Errorf("sqstest: function response %s: %w", respRaw, err)
	}
	listed := map[string]bool{}
	for _, f := range resp.BatchItemFailures {
		listed[f.ItemIdentifier] = true
	}
	recs := make([]Record, len(out.Messages))
	var del []types.DeleteMessageBatchRequestEntry
	for i, msg := range out.Messages {
		recs[i] = Record{Message: msg, Listed: listed[aws.ToString(msg.MessageId)]}
		if !recs[i].Listed {
			del = append(del, types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: msg.ReceiptHandle})
		}
	}
	if len(del) > 0 {
		if _, err := m.Client.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(m.QueueURL), Entries: del}); err != nil {
			return recs, fmt.Errorf("sqstest: delete: %w", err)
		}
	}
	return recs, nil
}

// Event builds the event Lambda's event source mapping sends for msgs.
func Event(msgs []types.Message, queueARN string) events.SQSEvent {
	var ev events.SQSEvent
	for _, m := range msgs {
		attrs := map[string]events.SQSMessageAttribute{}
		for k, v := range m.MessageAttributes {
			attrs[k] = events.SQSMessageAttribute{StringValue: v.StringValue, BinaryValue: v.BinaryValue, DataType: aws.ToString(v.DataType), StringListValues: []string{}, BinaryListValues: [][]byte{}}
		}
		ev.Records = append(ev.Records, events.SQSMessage{
			MessageId: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle), Body: aws.ToString(m.Body),
			Md5OfBody: aws.ToString(m.MD5OfBody), Md5OfMessageAttributes: aws.ToString(m.MD5OfMessageAttributes),
			Attributes: m.Attributes, MessageAttributes: attrs,
			EventSourceARN: queueARN, EventSource: "aws:sqs", AWSRegion: "us-east-1",
		})
	}
	return ev
}
