package feedrelay

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/plba/plba/pkg/config/awsconfig"
)

// DynamoAPI is the part of the DynamoDB client DynamoState uses.
type DynamoAPI interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
}

// DynamoState is a StateStore in a DynamoDB table with partition key "pk"
// (S), the layout plba.app.yaml declares: one item per feed, pk
// "feed#<url>", the state as a JSON string in "state".
type DynamoState struct {
	api   DynamoAPI
	table string
}

// NewDynamoClient builds a client: against endpoint with dummy
// credentials when it is set (a local DynamoDB-compatible server), else
// from awsconfig.Load (in Lambda builds the function's environment only).
func NewDynamoClient(ctx context.Context, sc StateConfig) (*dynamodb.Client, error) {
	if sc.Endpoint != "" {
		region := sc.Region
		if region == "" {
			region = "us-east-1"
		}
		return dynamodb.New(dynamodb.Options{
			Region: region, BaseEndpoint: aws.String(sc.Endpoint),
			Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
				return aws.Credentials{AccessKeyID: "local", SecretAccessKey: "local", Source: "feedrelay.local"}, nil
			}),
		}), nil
	}
	ac, err := awsconfig.Load(ctx, sc.Region)
	if err != nil {
		return nil, fmt.Errorf("feedrelay: AWS config: %w", err)
	}
	return dynamodb.NewFromConfig(ac), nil
}

// NewDynamoState returns a store on an existing table.
func NewDynamoState(api DynamoAPI, table string) *DynamoState {
	return &DynamoState{api: api, table: table}
}

func feedKey(feed string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "feed#" + feed}}
}

// Load implements StateStore (a consistent read: the previous poll may
// have run in another sandbox a minute ago).
func (s *DynamoState) Load(ctx context.Context, feed string) (FeedState, error) {
	out, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table), Key: feedKey(feed), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return FeedState{}, fmt.Errorf("feedrelay: load state of %s: %w", feed, err)
	}
	var st FeedState
	if v, ok := out.Item["state"].(*types.AttributeValueMemberS); ok {
		if err := json.Unmarshal([]byte(v.Value), &st); err != nil {
			return FeedState{}, fmt.Errorf("feedrelay: state of %s: %w", feed, err)
		}
	}
	return st, nil
}

// Save implements StateStore.
func (s *DynamoState) Save(ctx context.Context, feed string, st FeedState) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	item := feedKey(feed)
	item["state"] = &types.AttributeValueMemberS{Value: string(b)}
	if _, err := s.api.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: item}); err != nil {
		return fmt.Errorf("feedrelay: save state of %s: %w", feed, err)
	}
	return nil
}

// Close implements StateStore.
func (s *DynamoState) Close() error { return nil }
