// Package dynamostore is the [store.OrderStore] for AWS: one DynamoDB table,
// through aws-sdk-go-v2.
//
// # Table layout
//
// One item per e-mail, partition key "pk" (string, the message key). The
// item holds the order (attribute "doc", JSON), its status "st" and creation
// time "ca" (number, Unix nanoseconds), and — when the order has a reply —
// the outbox entry: "rfrom", "rto", "rraw", "rca", "rsent", and "op" =
// "pending" until the reply is sent ("attempted" while a send is recorded
// as attempted and not confirmed; removed once sent).
//
// Two global secondary indexes, projection ALL:
//
//   - "by_status": partition "st", sort "ca" — List.
//   - "outbox_pending": partition "op", sort "rca" — sparse (only unsent
//     replies carry "op") — PendingReplies ("pending") and
//     UnconfirmedReplies ("attempted").
//
// [TableSchema] returns exactly this definition; the CDK stack must create
// the same table.
//
// # Compatibility
//
// Items written by older versions have the same attributes; attributes
// added since are optional on read: "rres" (when a review was resolved,
// Unix nanoseconds) and "mraw"/"mrawca" (the raw message of an order in
// review and when it was kept, at most [MaxRawBytes] because an item holds
// at most 400 KB). No table change is needed: the review status is one more
// partition of "by_status".
//
// # Idempotency and atomicity
//
// Save is one PutItem with the condition attribute_not_exists(pk): DynamoDB
// creates the item at most once however many workers race, and because the
// outbox entry lives in the same item it is written atomically with the
// order, without TransactWriteItems (which costs twice the write capacity and
// which the local test server, dynalite, does not implement).
package dynamostore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/plba/plba/pkg/config/awsconfig"

	"github.com/plba/plba/apps/mailorderbot/domain"
	"github.com/plba/plba/apps/mailorderbot/store"
)

// Index names.
const (
	IndexByStatus      = "by_status"
	IndexOutboxPending = "outbox_pending"
)

// Values of "op", the outbox index's partition: a reply waiting for the
// outbox, and one whose send was attempted and never confirmed.
const (
	pendingMark   = "pending"
	attemptedMark = "attempted"
)

// MaxRawBytes is the largest raw message PutRaw keeps (DynamoDB items are
// at most 400 KB, the order and reply included).
const MaxRawBytes = 300 << 10

// API is the part of the DynamoDB client the store uses; *dynamodb.Client
// satisfies it.
type API interface {
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	CreateTable(ctx context.Context, in *dynamodb.CreateTableInput, opts ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
	DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, opts ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
}

// ClientConfig says how to reach DynamoDB.
type ClientConfig struct {
	// Region, e.g. "eu-central-1"; for a local endpoint any value works
	// (default "us-east-1").
	Region string
	// Endpoint, when set, points the client at a DynamoDB-compatible local
	// server (e.g. "http://127.0.0.1:18000") with static dummy credentials.
	// Empty means AWS: the default credential chain locally, the function's
	// environment in Lambda builds.
	Endpoint string
}

// NewClient builds a DynamoDB client from cfg.
func NewClient(ctx context.Context, cfg ClientConfig) (*dynamodb.Client, error) {
	if cfg.Endpoint != "" {
		region := cfg.Region
		if region == "" {
			region = "us-east-1"
		}
		return dynamodb.New(dynamodb.Options{
			Region:       region,
			BaseEndpoint: aws.String(cfg.Endpoint),
			Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
				return aws.Credentials{AccessKeyID: "local", SecretAccessKey: "local", Source: "dynamostore.local"}, nil
			}),
		}), nil
	}
	// awsconfig.Load is the SDK's default chain in local builds and the
	// Lambda environment alone in Lambda builds (tag plba_lambda).
	ac, err := awsconfig.Load(ctx, cfg.Region)
	if err != nil {
		return nil, fmt.Errorf("dynamostore: load AWS config: %w", err)
	}
	return dynamodb.NewFromConfig(ac), nil
}

// Store is a DynamoDB-backed [store.OrderStore].
type Store struct {
	api   API
	table string
}

var _ store.OrderStore = (*Store)(nil)

// New returns a store on an existing table (see [Store.EnsureTable]).
func New(api API, table string) (*Store, error) {
	if api == nil || table == "" {
		return nil, errors.New("dynamostore: client and table name are required")
	}
	return &Store{api: api, table: table}, nil
}

// Table is the table name.
func (s *Store) Table() string { return s.table }

// TableSchema is the CreateTable input for a table named name: the layout
// the store expects, on-demand billing.
func TableSchema(name string) *dynamodb.CreateTableInput {
	all := &types.Projection{ProjectionType: types.ProjectionTypeAll}
	return &dynamodb.CreateTableInput{
		TableName:   aws.String(name),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String("st"), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String("ca"), AttributeType: types.ScalarAttributeTypeN},
			{AttributeName: aws.String("op"), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String("rca"), AttributeType: types.ScalarAttributeTypeN},
		},
		KeySchema: []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{
			{
				IndexName: aws.String(IndexByStatus),
				KeySchema: []types.KeySchemaElement{
					{AttributeName: aws.String("st"), KeyType: types.KeyTypeHash},
					{AttributeName: aws.String("ca"), KeyType: types.KeyTypeRange},
				},
				Projection: all,
			},
			{
				IndexName: aws.String(IndexOutboxPending),
				KeySchema: []types.KeySchemaElement{
					{AttributeName: aws.String("op"), KeyType: types.KeyTypeHash},
					{AttributeName: aws.String("rca"), KeyType: types.KeyTypeRange},
				},
				Projection: all,
			},
		},
	}
}

// EnsureTable creates the table when it does not exist and waits until it
// is active. In AWS the CDK stack creates it; this is for local servers and
// first runs.
func (s *Store) EnsureTable(ctx context.Context) error {
	_, err := s.api.CreateTable(ctx, TableSchema(s.table))
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return fmt.Errorf("dynamostore: create table %s: %w", s.table, err)
	}
	w := dynamodb.NewTableExistsWaiter(s.api, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay = 100 * time.Millisecond
		o.MaxDelay = 2 * time.Second
	})
	if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(s.table)}, 2*time.Minute); err != nil {
		return fmt.Errorf("dynamostore: wait for table %s: %w", s.table, err)
	}
	return nil
}

// Ping checks the table is reachable (for health checks).
func (s *Store) Ping(ctx context.Context) error {
	if _, err := s.api.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(s.table)}); err != nil {
		return fmt.Errorf("dynamostore: describe table %s: %w", s.table, err)
	}
	return nil
}

// Close implements [store.OrderStore]; the client needs no closing.
func (s *Store) Close() error { return nil }

func num(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}
func str(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

func keyOf(k domain.MessageKey) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": str(string(k))}
}

// Save implements [store.OrderStore].
func (s *Store) Save(ctx context.Context, order domain.Order, reply *domain.Reply) (bool, error) {
	if err := store.Check(order, reply); err != nil {
		return false, err
	}
	doc, err := json.Marshal(order)
	if err != nil {
		return false, fmt.Errorf("dynamostore: encode order %s: %w", order.Key, err)
	}
	item := map[string]types.AttributeValue{
		"pk":  str(string(order.Key)),
		"st":  str(string(order.Status)),
		"ca":  num(order.CreatedAt.UnixNano()),
		"doc": str(string(doc)),
	}
	if reply != nil {
		to := make([]types.AttributeValue, len(reply.To))
		for i, a := range reply.To {
			to[i] = str(a)
		}
		item["rfrom"] = str(reply.From)
		item["rto"] = &types.AttributeValueMemberL{Value: to}
		item["rraw"] = &types.AttributeValueMemberB{Value: reply.Raw}
		item["rca"] = num(reply.CreatedAt.UnixNano())
		if reply.Pending() {
			item["op"] = str(pendingMark)
		} else {
			item["rsent"] = num(reply.SentAt.UnixNano())
		}
	}
	_, err = s.api.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:           aws.String(s.table),
		Item:                item,
		ConditionExpression: aws.String("attribute_not_exists(pk)"),
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("dynamostore: save %s: %w", order.Key, err)
	}
	return true, nil
}

func (s *Store) item(ctx context.Context, key domain.MessageKey) (map[string]types.AttributeValue, error) {
	out, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.table), Key: keyOf(key), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, fmt.Errorf("dynamostore: get %s: %w", key, err)
	}
	if len(out.Item) == 0 {
		return nil, fmt.Errorf("dynamostore: %s: %w", key, store.ErrNotFound)
	}
	return out.Item, nil
}

// Get implements [store.OrderStore].
func (s *Store) Get(ctx context.Context, key domain.MessageKey) (domain.Order, error) {
	it, err := s.item(ctx, key)
	if err != nil {
		return domain.Order{}, err
	}
	return decodeOrder(it)
}

func decodeOrder(it map[string]types.AttributeValue) (domain.Order, error) {
	doc, ok := it["doc"].(*types.AttributeValueMemberS)
	if !ok {
		return domain.Order{}, errors.New("dynamostore: item without doc attribute")
	}
	var o domain.Order
	if err := json.Unmarshal([]byte(doc.Value), &o); err != nil {
		return domain.Order{}, fmt.Errorf("dynamostore: decode order: %w", err)
	}
	return o, nil
}

func numAttr(it map[string]types.AttributeValue, name string) (int64, bool) {
	n, ok := it[name].(*types.AttributeValueMemberN)
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseInt(n.Value, 10, 64)
	return v, err == nil
}

func decodeReply(it map[string]types.AttributeValue) (domain.Reply, bool) {
	raw, ok := it["rraw"].(*types.AttributeValueMemberB)
	if !ok {
		return domain.Reply{}, false
	}
	r := domain.Reply{Raw: raw.Value}
	if pk, ok := it["pk"].(*types.AttributeValueMemberS); ok {
		r.Key = domain.MessageKey(pk.Value)
	}
	if f, ok := it["rfrom"].(*types.AttributeValueMemberS); ok {
		r.From = f.Value
	}
	if l, ok := it["rto"].(*types.AttributeValueMemberL); ok {
		for _, v := range l.Value {
			if s, ok := v.(*types.AttributeValueMemberS); ok {
				r.To = append(r.To, s.Value)
			}
		}
	}
	if n, ok := numAttr(it, "rca"); ok {
		r.CreatedAt = time.Unix(0, n).UTC()
	}
	if n, ok := numAttr(it, "rsent"); ok {
		r.SentAt = time.Unix(0, n).UTC()
	}
	if n, ok := numAttr(it, "rtry"); ok {
		r.AttemptedAt = time.Unix(0, n).UTC()
	}
	return r, true
}

// Reply implements [store.OrderStore].
func (s *Store) Reply(ctx context.Context, key domain.MessageKey) (domain.Reply, error) {
	it, err := s.item(ctx, key)
	if err != nil {
		return domain.Reply{}, err
	}
	r, ok := decodeReply(it)
	if !ok {
		return domain.Reply{}, fmt.Errorf("dynamostore: reply %s: %w", key, store.ErrNotFound)
	}
	return r, nil
}

// query runs a paginated index query until limit items were collected.
func (s *Store) query(ctx context.Context, in *dynamodb.QueryInput, limit int) ([]map[string]types.AttributeValue, error) {
	var items []map[string]types.AttributeValue
	p := dynamodb.NewQueryPaginator(s.api, in)
	for p.HasMorePages() && len(items) < limit {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		items = append(items, out.Items...)
	}
	if len(items) > limit {
		items = items[:limit]
	}
	return items, nil
}

// Count implements [store.OrderStore]: a COUNT query on the status index
// per status (never a scan of the table).
func (s *Store) Count(ctx context.Context, f store.Filter) (int, error) {
	statuses := domain.Statuses
	if f.Status != "" {
		statuses = []domain.Status{f.Status}
	}
	n := 0
	for _, st := range statuses {
		p := dynamodb.NewQueryPaginator(s.api, &dynamodb.QueryInput{
			TableName:                 aws.String(s.table),
			IndexName:                 aws.String(IndexByStatus),
			KeyConditionExpression:    aws.String("st = :st"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":st": str(string(st))},
			Select:                    types.SelectCount,
		})
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				return 0, fmt.Errorf("dynamostore: count %s: %w", st, err)
			}
			n += int(out.Count)
		}
	}
	return n, nil
}

// List implements [store.OrderStore]. Without a status filter it queries
// each status and merges, so it never scans the table.
func (s *Store) List(ctx context.Context, f store.Filter) ([]domain.Order, error) {
	limit := store.Limit(f.Limit)
	statuses := domain.Statuses
	if f.Status != "" {
		statuses = []domain.Status{f.Status}
	}
	type row struct {
		ca    int64
		order domain.Order
	}
	var rows []row
	for _, st := range statuses {
		items, err := s.query(ctx, &dynamodb.QueryInput{
			TableName:                 aws.String(s.table),
			IndexName:                 aws.String(IndexByStatus),
			KeyConditionExpression:    aws.String("st = :st"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":st": str(string(st))},
			ScanIndexForward:          aws.Bool(false),
			Limit:                     aws.Int32(int32(min(limit, 1000))),
		}, limit)
		if err != nil {
			return nil, fmt.Errorf("dynamostore: list %s: %w", st, err)
		}
		for _, it := range items {
			o, err := decodeOrder(it)
			if err != nil {
				return nil, err
			}
			ca, _ := numAttr(it, "ca")
			rows = append(rows, row{ca: ca, order: o})
		}
	}
	slices.SortFunc(rows, func(a, b row) int {
		if a.ca != b.ca {
			if a.ca > b.ca {
				return -1
			}
			return 1
		}
		return -strings.Compare(string(a.order.Key), string(b.order.Key))
	})
	if len(rows) > limit {
		rows = rows[:limit]
	}
	out := make([]domain.Order, len(rows))
	for i, r := range rows {
		out[i] = r.order
	}
	return out, nil
}

// PendingReplies implements [store.OrderStore]. The index is eventually
// consistent: a reply saved a moment ago may show up a moment later.
func (s *Store) PendingReplies(ctx context.Context, limit int) ([]domain.Reply, error) {
	return s.outbox(ctx, "pending", pendingMark, limit)
}

// UnconfirmedReplies implements [store.OrderStore]: the "attempted"
// partition of the outbox index (MarkAttempt moves a reply there). Replies
// attempted by a version before it left the index altogether and are not
// listed.
func (s *Store) UnconfirmedReplies(ctx context.Context, limit int) ([]domain.Reply, error) {
	return s.outbox(ctx, "unconfirmed", attemptedMark, limit)
}

// outbox lists the outbox index's partition op = mark, oldest first.
func (s *Store) outbox(ctx context.Context, what, mark string, limit int) ([]domain.Reply, error) {
	limit = store.Limit(limit)
	items, err := s.query(ctx, &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		IndexName:                 aws.String(IndexOutboxPending),
		KeyConditionExpression:    aws.String("op = :p"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": str(mark)},
		ScanIndexForward:          aws.Bool(true),
		Limit:                     aws.Int32(int32(min(limit, 1000))),
	}, limit)
	if err != nil {
		return nil, fmt.Errorf("dynamostore: %s replies: %w", what, err)
	}
	out := make([]domain.Reply, 0, len(items))
	for _, it := range items {
		if r, ok := decodeReply(it); ok {
			out = append(out, r)
		}
	}
	slices.SortStableFunc(out, func(a, b domain.Reply) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(string(a.Key), string(b.Key))
	})
	return out, nil
}

// MarkSent implements [store.OrderStore].
func (s *Store) MarkSent(ctx context.Context, key domain.MessageKey, at time.Time) error {
	_, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       keyOf(key),
		UpdateExpression:          aws.String("SET rsent = if_not_exists(rsent, :t) REMOVE op"),
		ConditionExpression:       aws.String("attribute_exists(rraw)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":t": num(at.UnixNano())},
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return fmt.Errorf("dynamostore: reply %s: %w", key, store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("dynamostore: mark sent %s: %w", key, err)
	}
	return nil
}

// MarkAttempt implements [store.OrderStore]: the reply moves from the
// pending partition of the outbox index to the attempted one (the outbox no
// longer sends it by itself; UnconfirmedReplies lists it until MarkSent
// removes it from the index) and records the attempt.
func (s *Store) MarkAttempt(ctx context.Context, key domain.MessageKey, at time.Time) error {
	_, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       keyOf(key),
		UpdateExpression:          aws.String("SET rtry = :t, op = :a"),
		ConditionExpression:       aws.String("attribute_exists(rraw) AND attribute_not_exists(rsent) AND attribute_not_exists(rtry)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":t": num(at.UnixNano()), ":a": str(attemptedMark)},
	})
	var ccf *types.ConditionalCheckFailedException
	if !errors.As(err, &ccf) {
		if err != nil {
			return fmt.Errorf("dynamostore: reply attempt %s: %w", key, err)
		}
		return nil
	}
	// Which condition failed: a second read (consistent) tells.
	r, rerr := s.Reply(ctx, key)
	switch {
	case rerr == nil && r.Unconfirmed():
		return fmt.Errorf("dynamostore: reply attempt %s: %w", key, store.ErrAttempted)
	case rerr == nil || errors.Is(rerr, store.ErrNotFound):
		return fmt.Errorf("dynamostore: reply attempt %s: %w", key, store.ErrNotFound)
	default:
		return fmt.Errorf("dynamostore: reply attempt %s: %w", key, rerr)
	}
}

// ClearAttempt implements [store.OrderStore]: back on the pending index.
func (s *Store) ClearAttempt(ctx context.Context, key domain.MessageKey) error {
	return s.updateAttempt(ctx, key, "SET op = :p REMOVE rtry", map[string]types.AttributeValue{":p": str(pendingMark)})
}

func (s *Store) updateAttempt(ctx context.Context, key domain.MessageKey, update string, vals map[string]types.AttributeValue) error {
	_, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       keyOf(key),
		UpdateExpression:          aws.String(update),
		ConditionExpression:       aws.String("attribute_exists(rraw) AND attribute_not_exists(rsent)"),
		ExpressionAttributeValues: vals,
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return fmt.Errorf("dynamostore: reply attempt %s: %w", key, store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("dynamostore: reply attempt %s: %w", key, err)
	}
	return nil
}

// Resolve implements [store.OrderStore].
func (s *Store) Resolve(ctx context.Context, order domain.Order, reply *domain.Reply) error {
	if err := store.Check(order, reply); err != nil {
		return err
	}
	doc, err := json.Marshal(order)
	if err != nil {
		return fmt.Errorf("dynamostore: encode order %s: %w", order.Key, err)
	}
	set := []string{"st = :st", "doc = :doc"}
	vals := map[string]types.AttributeValue{
		":st": str(string(order.Status)), ":doc": str(string(doc)), ":review": str(string(domain.StatusReview)),
	}
	if order.Resolution != nil {
		set = append(set, "rres = :rres")
		vals[":rres"] = num(order.Resolution.At.UnixNano())
	}
	expr := ""
	if reply != nil {
		to := make([]types.AttributeValue, len(reply.To))
		for i, a := range reply.To {
			to[i] = str(a)
		}
		set = append(set, "rfrom = :rf", "rto = :rt", "rraw = :rr", "rca = :rca", "op = :op")
		vals[":rf"], vals[":rt"], vals[":rr"] = str(reply.From), &types.AttributeValueMemberL{Value: to}, &types.AttributeValueMemberB{Value: reply.Raw}
		vals[":rca"], vals[":op"] = num(reply.CreatedAt.UnixNano()), str(pendingMark)
		expr = " REMOVE rsent"
	}
	_, err = s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       keyOf(order.Key),
		UpdateExpression:          aws.String("SET " + strings.Join(set, ", ") + expr),
		ConditionExpression:       aws.String("attribute_exists(pk) AND st = :review"),
		ExpressionAttributeValues: vals,
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		cur, gerr := s.Get(ctx, order.Key)
		if gerr != nil {
			return gerr
		}
		return fmt.Errorf("dynamostore: order %s is %s: %w", order.Key, cur.Status, store.ErrNotReview)
	}
	if err != nil {
		return fmt.Errorf("dynamostore: resolve %s: %w", order.Key, err)
	}
	return nil
}

// PutRaw implements [store.OrderStore]. A message over MaxRawBytes is not
// kept (the mailbox still has it): the error says so.
func (s *Store) PutRaw(ctx context.Context, key domain.MessageKey, raw []byte, at time.Time) error {
	if len(raw) > MaxRawBytes {
		return fmt.Errorf("dynamostore: raw %s: %d bytes, more than the %d an item can hold", key, len(raw), MaxRawBytes)
	}
	_, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       keyOf(key),
		UpdateExpression:          aws.String("SET mraw = if_not_exists(mraw, :r), mrawca = if_not_exists(mrawca, :t)"),
		ConditionExpression:       aws.String("attribute_exists(pk)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":r": &types.AttributeValueMemberB{Value: raw}, ":t": num(at.UnixNano())},
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return fmt.Errorf("dynamostore: raw %s: %w", key, store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("dynamostore: keep raw %s: %w", key, err)
	}
	return nil
}

// Raw implements [store.OrderStore].
func (s *Store) Raw(ctx context.Context, key domain.MessageKey) ([]byte, error) {
	it, err := s.item(ctx, key)
	if err != nil {
		return nil, err
	}
	raw, ok := it["mraw"].(*types.AttributeValueMemberB)
	if !ok {
		return nil, fmt.Errorf("dynamostore: raw %s: %w", key, store.ErrNotFound)
	}
	return raw.Value, nil
}

// PurgeRaw implements [store.OrderStore]: per status, the index query
// filters items with a raw message older than before.
func (s *Store) PurgeRaw(ctx context.Context, before time.Time) (int, error) {
	n := 0
	for _, st := range domain.Statuses {
		p := dynamodb.NewQueryPaginator(s.api, &dynamodb.QueryInput{
			TableName:                 aws.String(s.table),
			IndexName:                 aws.String(IndexByStatus),
			KeyConditionExpression:    aws.String("st = :st"),
			FilterExpression:          aws.String("attribute_exists(mraw) AND mrawca < :t"),
			ProjectionExpression:      aws.String("pk"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":st": str(string(st)), ":t": num(before.UnixNano())},
		})
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				return n, fmt.Errorf("dynamostore: purge raw: %w", err)
			}
			for _, it := range out.Items {
				pk, ok := it["pk"].(*types.AttributeValueMemberS)
				if !ok {
					continue
				}
				if _, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
					TableName: aws.String(s.table), Key: keyOf(domain.MessageKey(pk.Value)),
					UpdateExpression: aws.String("REMOVE mraw, mrawca"),
				}); err != nil {
					return n, fmt.Errorf("dynamostore: purge raw %s: %w", pk.Value, err)
				}
				n++
			}
		}
	}
	return n, nil
}
