package plbastack

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdaeventsources"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// ErrAssetsMissing is returned by [New] when a function's bootstrap binary
// is not where the configuration says; `make lambdas` builds them.
var ErrAssetsMissing = errors.New("plba infra: Lambda bootstrap binaries missing")

// Function names used for asset directories, construct ids and outputs.
const (
	Poller  = "poller"
	Worker  = "worker"
	Control = "control"
)

// Environment variables the stack sets on the functions (the contract with
// the Lambda mains; see docs/deploy.md).
const (
	EnvStage      = "PLBA_STAGE"
	EnvQueueURL   = "PLBA_QUEUE_URL"
	EnvDLQURL     = "PLBA_DLQ_URL"
	EnvQueueFIFO  = "PLBA_QUEUE_FIFO"
	EnvStoreTable = "PLBA_STORE_TABLE"
	// EnvMaxReceiveCount is the task queue's redrive maxReceiveCount.
	EnvMaxReceiveCount = "PLBA_MAX_RECEIVE_COUNT"
	// EnvControlWorkerMapping and EnvControlPollerRule tell the control
	// function what split-mode pause disables (pkg/lambda/controlfn/awspause).
	EnvControlWorkerMapping = "PLBA_CONTROL_WORKER_MAPPING"
	EnvControlPollerRule    = "PLBA_CONTROL_POLLER_RULE"
	// EnvMetricsNamespace is the CloudWatch namespace the poller and the
	// worker write their EMF metrics to ([Config.MetricsNamespace]).
	EnvMetricsNamespace = "PLBA_PLATFORM__TELEMETRY__METRICS__NAMESPACE"
)

// Stack is the deployed application: queues, its table (if the manifest
// declares one), three functions, the schedule, alarms and outputs.
type Stack struct {
	awscdk.Stack
	Config Config

	Queue, DeadLetterQueue awssqs.Queue
	// Table is nil when the manifest declares none.
	Table          awsdynamodb.Table
	Poller, Worker awslambda.Function
	Control        awslambda.Function
	// ControlURL is nil when control.function_url is off.
	ControlURL awslambda.FunctionUrl
	Schedule   awsevents.Rule
	Alarms     []awscloudwatch.Alarm
	// Topic is the alarms' SNS topic when alarms.create_topic is set.
	Topic awssns.Topic
	// Dashboard is nil when dashboard.enabled is off.
	Dashboard awscloudwatch.Dashboard
}

// New validates cfg, checks that the bootstrap binaries exist and adds the
// stack to scope (normally an awscdk.App). It returns a [*ValidationError]
// (wrapping [ErrInvalidConfig]) or an error wrapping [ErrAssetsMissing]
// instead of constructing anything half-way.
func New(scope constructs.Construct, cfg Config) (*Stack, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := CheckAssets(cfg.AssetDir); err != nil {
		return nil, err
	}

	name := cfg.ResolvedStackName()
	st := awscdk.NewStack(scope, jsii.String(name), &awscdk.StackProps{
		StackName:   jsii.String(name),
		Env:         environment(cfg),
		Description: jsii.String(cfg.description() + " (stage " + cfg.Stage + ")"),
	})
	awscdk.Tags_Of(st).Add(jsii.String("plba:stage"), jsii.String(cfg.Stage), nil)
	for k, v := range cfg.Tags {
		awscdk.Tags_Of(st).Add(jsii.String(k), jsii.String(v), nil)
	}
	s := &Stack{Stack: st, Config: cfg}
	s.addQueues()
	s.addTable()
	s.addFunctions()
	s.addAlarms()
	s.addDashboard()
	s.addOutputs()
	return s, nil
}

// CheckAssets reports which of dir/<poller|worker|control>/bootstrap are
// missing, with the command that builds them.
func CheckAssets(dir string) error {
	var missing []string
	for _, fn := range []string{Poller, Worker, Control} {
		p := filepath.Join(dir, fn, "bootstrap")
		if fi, err := os.Stat(p); err != nil || !fi.Mode().IsRegular() {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %v not found; run `make lambdas` at the repository root first "+
			"(or point -c assetDir=DIR at a directory holding poller/, worker/ and control/ with a bootstrap each)",
			ErrAssetsMissing, missing)
	}
	return nil
}

func (c Config) description() string {
	if c.App.Description != "" {
		return c.App.Description
	}
	return "PLBA application " + c.App.Name + ", split deployment"
}

func environment(cfg Config) *awscdk.Environment {
	account, region := cfg.Account, cfg.Region
	if account == "" {
		account = os.Getenv("CDK_DEFAULT_ACCOUNT")
	}
	if region == "" {
		region = os.Getenv("CDK_DEFAULT_REGION")
	}
	if account == "" && region == "" {
		return nil // environment-agnostic: synth works without credentials
	}
	env := &awscdk.Environment{}
	if account != "" {
		env.Account = jsii.String(account)
	}
	if region != "" {
		env.Region = jsii.String(region)
	}
	return env
}

func dur(d Duration) awscdk.Duration {
	return awscdk.Duration_Seconds(jsii.Number(d.seconds()))
}

func (s *Stack) addQueues() {
	q := s.Config.Queue
	fifo := (*bool)(nil)
	if q.FIFO {
		fifo = jsii.Bool(true)
	}
	// A FIFO queue's name must end in ".fifo"; name FIFO queues explicitly
	// rather than rely on how CloudFormation generates names.
	var dlqName, queueName *string
	if q.FIFO {
		dlqName = jsii.String(s.Config.ResolvedStackName() + "-dead-letters.fifo")
		queueName = jsii.String(s.Config.ResolvedStackName() + "-tasks.fifo")
	}
	s.DeadLetterQueue = awssqs.NewQueue(s.Stack, jsii.String("DeadLetterQueue"), &awssqs.QueueProps{
		QueueName:       dlqName,
		Fifo:            fifo,
		Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:      jsii.Bool(true),
		RetentionPeriod: dur(q.DLQRetention),
	})
	props := &awssqs.QueueProps{
		QueueName:         queueName,
		Fifo:              fifo,
		Encryption:        awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:        jsii.Bool(true),
		VisibilityTimeout: dur(q.VisibilityTimeout),
		RetentionPeriod:   dur(q.Retention),
		DeadLetterQueue: &awssqs.DeadLetterQueue{
			Queue:           s.DeadLetterQueue,
			MaxReceiveCount: jsii.Number(float64(q.MaxReceiveCount)),
		},
	}
	if q.FIFO {
		props.ContentBasedDeduplication = jsii.Bool(q.ContentBasedDeduplication)
	}
	s.Queue = awssqs.NewQueue(s.Stack, jsii.String("TaskQueue"), props)
}

func attrType(t string) awsdynamodb.AttributeType {
	switch t {
	case "N":
		return awsdynamodb.AttributeType_NUMBER
	case "B":
		return awsdynamodb.AttributeType_BINARY
	}
	return awsdynamodb.AttributeType_STRING
}

func attr(k *KeyAttr) *awsdynamodb.Attribute {
	if k == nil {
		return nil
	}
	return &awsdynamodb.Attribute{Name: jsii.String(k.Name), Type: attrType(k.Type)}
}

func (s *Stack) addTable() {
	spec := s.Config.App.Table
	if spec == nil {
		return
	}
	removal := awscdk.RemovalPolicy_DESTROY
	if s.Config.Table.Retain {
		removal = awscdk.RemovalPolicy_RETAIN
	}
	s.Table = awsdynamodb.NewTable(s.Stack, jsii.String(spec.ID()), &awsdynamodb.TableProps{
		PartitionKey: attr(&spec.PartitionKey),
		SortKey:      attr(spec.SortKey),
		BillingMode:  awsdynamodb.BillingMode_PAY_PER_REQUEST,
		PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{
			PointInTimeRecoveryEnabled: jsii.Bool(true),
		},
		Encryption:         awsdynamodb.TableEncryption_AWS_MANAGED,
		DeletionProtection: jsii.Bool(s.Config.Table.DeletionProtection),
		RemovalPolicy:      removal,
	})
	for _, ix := range spec.Indexes {
		s.Table.AddGlobalSecondaryIndex(&awsdynamodb.GlobalSecondaryIndexProps{
			IndexName:      jsii.String(ix.Name),
			PartitionKey:   attr(&ix.PartitionKey),
			SortKey:        attr(ix.SortKey),
			ProjectionType: awsdynamodb.ProjectionType_ALL,
		})
	}
}

// indexARNs names each index explicitly rather than "<table>/index/*".
func (s *Stack) indexARNs() []string {
	var out []string
	for _, ix := range s.Config.App.Table.Indexes {
		out = append(out, *s.Table.TableArn()+"/index/"+ix.Name)
	}
	return out
}

// function creates one Lambda function with its own role and log group.
// The role starts empty: the function may write to its log group and
// nothing else until the caller grants more.
func (s *Stack) function(fn string, fc FunctionConfig, env map[string]string) (awslambda.Function, awsiam.Role) {
	id := map[string]string{Poller: "Poller", Worker: "Worker", Control: "Control"}[fn]
	fnName := s.Config.ResolvedStackName() + "-" + fn
	role := awsiam.NewRole(s.Stack, jsii.String(id+"Role"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String("PLBA " + fn + " function (" + s.Config.Stage + ")"),
	})
	logs := awslogs.NewLogGroup(s.Stack, jsii.String(id+"Logs"), &awslogs.LogGroupProps{
		LogGroupName:  jsii.String("/aws/lambda/" + fnName),
		Retention:     retention(s.Config.Logs.RetentionDays),
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	logs.GrantWrite(role)

	vars := map[string]*string{EnvStage: jsii.String(s.Config.Stage)}
	for _, m := range []map[string]string{s.Config.Environment, s.Config.App.Environment, s.Config.ResolvedSettings(), env} {
		for k, v := range m {
			vars[k] = jsii.String(v)
		}
	}
	for _, sec := range s.Config.ResolvedSecrets() {
		if slices.Contains(sec.Functions, fn) {
			vars[sec.Env] = jsii.String(s.Config.secretReference(sec))
		}
	}
	props := &awslambda.FunctionProps{
		FunctionName: jsii.String(fnName),
		Description:  jsii.String("PLBA " + fn + " (" + s.Config.Stage + ")"),
		Runtime:      awslambda.Runtime_PROVIDED_AL2023(),
		Architecture: awslambda.Architecture_ARM_64(),
		Handler:      jsii.String("bootstrap"),
		Code:         awslambda.Code_FromAsset(jsii.String(filepath.Join(s.Config.AssetDir, fn)), nil),
		Timeout:      dur(fc.Timeout),
		MemorySize:   jsii.Number(float64(fc.MemoryMB)),
		Role:         role,
		LogGroup:     logs,
		Environment:  &vars,
	}
	if fc.ReservedConcurrency > 0 {
		props.ReservedConcurrentExecutions = jsii.Number(float64(fc.ReservedConcurrency))
	}
	if s.Config.Tracing.Active && fn != Control {
		// X-Ray traces the invocation and the SQS hop; CDK grants the
		// role xray:PutTraceSegments and PutTelemetryRecords.
		props.Tracing = awslambda.Tracing_ACTIVE
	}
	f := awslambda.NewFunction(s.Stack, jsii.String(id), props)
	return f, role
}

func merge(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// Actions of the table grants: "write" is what a store needs (no Scan),
// "read" what status and listings need.
var (
	tableWrite = []string{
		"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
		"dynamodb:ConditionCheckItem", "dynamodb:Query", "dynamodb:BatchGetItem", "dynamodb:BatchWriteItem",
		"dynamodb:DescribeTable",
	}
	tableRead = []string{
		"dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan", "dynamodb:BatchGetItem", "dynamodb:DescribeTable",
	}
)

// tableEnv is what a function with table access gets.
func (s *Stack) tableEnv() map[string]string {
	spec := s.Config.App.Table
	env := map[string]string{EnvStoreTable: *s.Table.TableName()}
	for _, e := range spec.Env {
		env[e] = *s.Table.TableName()
	}
	for k, v := range spec.Environment {
		env[k] = v
	}
	return env
}

// allowTable grants fn's role the table access the manifest gives it.
func (s *Stack) allowTable(fn string, role awsiam.Role) {
	spec := s.Config.App.Table
	if spec == nil || spec.Access[fn] == "" {
		return
	}
	if spec.Access[fn] == "write" {
		s.allow(role, "Store"+spec.ID(), tableWrite, *s.Table.TableArn())
	} else {
		s.allow(role, "Read"+spec.ID(), tableRead, *s.Table.TableArn())
	}
	if len(spec.Indexes) > 0 {
		s.allow(role, "Query"+spec.ID()+"Indexes", []string{"dynamodb:Query"}, s.indexARNs()...)
	}
}

// fnEnv is the variables of fn beyond those every function gets.
func (s *Stack) fnEnv(fn string, queueEnv map[string]string) map[string]string {
	if t := s.Config.App.Table; t != nil && t.Access[fn] != "" {
		return merge(queueEnv, s.tableEnv())
	}
	return queueEnv
}

func (s *Stack) addFunctions() {
	cfg := s.Config
	// Every function gets both queue URLs: pkg/lambda opens a queue only
	// with both. Permissions, not the environment, limit what each may do.
	queueEnv := map[string]string{
		EnvQueueURL:        *s.Queue.QueueUrl(),
		EnvDLQURL:          *s.DeadLetterQueue.QueueUrl(),
		EnvQueueFIFO:       strconv.FormatBool(cfg.Queue.FIFO),
		EnvMaxReceiveCount: strconv.Itoa(cfg.Queue.MaxReceiveCount),
	}

	// Poller: runs the sources, publishes to the task queue.
	var pollerRole, workerRole, controlRole awsiam.Role
	metricsEnv := map[string]string{EnvMetricsNamespace: cfg.MetricsNamespace()}
	s.Poller, pollerRole = s.function(Poller, cfg.Poller.FunctionConfig, merge(s.fnEnv(Poller, queueEnv), metricsEnv))
	s.allow(pollerRole, "PublishTasks", []string{"sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"},
		*s.Queue.QueueArn())
	s.allowTable(Poller, pollerRole)

	// Worker: consumes the task queue, dead-letters permanent failures,
	// uses the table as the manifest says.
	s.Worker, workerRole = s.function(Worker, cfg.Worker.FunctionConfig, merge(s.fnEnv(Worker, queueEnv), metricsEnv))
	src := &awslambdaeventsources.SqsEventSourceProps{
		BatchSize:               jsii.Number(float64(cfg.Worker.BatchSize)),
		ReportBatchItemFailures: jsii.Bool(true),
	}
	if cfg.Worker.BatchingWindow > 0 {
		src.MaxBatchingWindow = dur(cfg.Worker.BatchingWindow)
	}
	if cfg.Worker.MaxConcurrency > 0 {
		src.MaxConcurrency = jsii.Number(float64(cfg.Worker.MaxConcurrency))
	}
	// The event source grants the worker role sqs:ReceiveMessage,
	// ChangeMessageVisibility, GetQueueUrl, DeleteMessage and
	// GetQueueAttributes on the task queue only.
	esm := awslambdaeventsources.NewSqsEventSource(s.Queue, src)
	s.Worker.AddEventSource(esm)
	s.allow(workerRole, "DeadLetterPermanentFailures", []string{"sqs:SendMessage", "sqs:GetQueueAttributes"},
		*s.DeadLetterQueue.QueueArn())
	s.allowTable(Worker, workerRole)

	// Control: status (queue depths, health) and admin actions (redrive).
	s.Control, controlRole = s.function(Control, cfg.Control.FunctionConfig, s.fnEnv(Control, queueEnv))
	s.allow(controlRole, "InspectAndRedriveTaskQueue", []string{"sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:SendMessage"},
		*s.Queue.QueueArn())
	s.allow(controlRole, "InspectAndRedriveDeadLetters", []string{
		"sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:ReceiveMessage", "sqs:DeleteMessage",
		"sqs:ChangeMessageVisibility", "sqs:StartMessageMoveTask", "sqs:ListMessageMoveTasks",
		"sqs:CancelMessageMoveTask",
	}, *s.DeadLetterQueue.QueueArn())
	s.allowTable(Control, controlRole)
	if cfg.Control.FunctionURL {
		s.ControlURL = s.Control.AddFunctionUrl(&awslambda.FunctionUrlOptions{
			AuthType: awslambda.FunctionUrlAuthType_AWS_IAM,
		})
	}

	// Secrets last, by name, each readable only by the functions listed.
	roles := map[string]awsiam.Role{Poller: pollerRole, Worker: workerRole, Control: controlRole}
	secrets := cfg.ResolvedSecrets()
	for _, fn := range []string{Poller, Worker, Control} {
		for _, n := range slices.Sorted(maps.Keys(secrets)) {
			if sec := secrets[n]; slices.Contains(sec.Functions, fn) {
				s.allowSecret(roles[fn], n, cfg.expand(sec.SSMParameter), cfg.expand(sec.Secret), sec.KMSKeyARN, sec.Writable)
			}
		}
	}

	// A failed poll fails its invocation (the Errors alarm sees it) and is
	// not retried, by Lambda's asynchronous invocation either (2 retries by
	// default): the next tick polls again, and a retry would only overlap.
	s.Poller.ConfigureAsyncInvoke(&awslambda.EventInvokeConfigOptions{
		RetryAttempts: jsii.Number(0),
		MaxEventAge:   awscdk.Duration_Seconds(jsii.Number(60)),
	})
	// Schedule: one poll per tick; a failed poll is not retried by
	// EventBridge, the next tick polls again.
	s.Schedule = awsevents.NewRule(s.Stack, jsii.String("PollerSchedule"), &awsevents.RuleProps{
		Description: jsii.String("PLBA poller (" + cfg.Stage + ")"),
		Schedule:    awsevents.Schedule_Expression(jsii.String(cfg.Poller.Schedule)),
		Targets: &[]awsevents.IRuleTarget{awseventstargets.NewLambdaFunction(s.Poller, &awseventstargets.LambdaFunctionProps{
			RetryAttempts: jsii.Number(0),
			MaxEventAge:   awscdk.Duration_Seconds(jsii.Number(time.Duration(cfg.Poller.Timeout).Seconds() + 60)),
			Event:         awsevents.RuleTargetInput_FromObject(map[string]any{"source": "plba.schedule", "stage": cfg.Stage}),
		})},
	})

	// Split-mode pause and resume (the control plane's pause action):
	// the control function disables the worker's event source mapping or
	// the poller's schedule, each by its own ARN.
	s.Control.AddEnvironment(jsii.String(EnvControlWorkerMapping), esm.EventSourceMappingId(), nil)
	s.Control.AddEnvironment(jsii.String(EnvControlPollerRule), s.Schedule.RuleName(), nil)
	s.allow(controlRole, "PauseWorker", []string{"lambda:UpdateEventSourceMapping", "lambda:GetEventSourceMapping"},
		*esm.EventSourceMappingArn())
	s.allow(controlRole, "PausePoller", []string{"events:DisableRule", "events:EnableRule", "events:DescribeRule"},
		*s.Schedule.RuleArn())
}

// allow adds one statement with explicit actions on explicit resources.
func (s *Stack) allow(role awsiam.Role, sid string, actions []string, resources ...string) {
	role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String(sid),
		Effect:    awsiam.Effect_ALLOW,
		Actions:   jsii.Strings(actions...),
		Resources: jsii.Strings(resources...),
	}))
}

// allowSecret lets role read one SSM parameter (ssmName) or one Secrets
// Manager secret (secretName): ssm:GetParameter(s) or
// secretsmanager:GetSecretValue on that ARN only. With the AWS managed keys
// (aws/ssm, aws/secretsmanager) no KMS statement is needed: their key
// policies allow use through the service by any principal of the account
// that may call it. A customer managed key (kmsARN) gets kms:Decrypt,
// restricted to use through that service. A writable secret (a rotated
// OAuth refresh token) adds ssm:PutParameter or
// secretsmanager:PutSecretValue on the same ARN, and kms:Encrypt (plus
// kms:GenerateDataKey for Secrets Manager) with a customer managed key.
func (s *Stack) allowSecret(role awsiam.Role, what, ssmName, secretName, kmsARN string, writable bool) {
	service := "ssm"
	if secretName != "" {
		service = "secretsmanager"
		// Secrets Manager appends "-" and six random characters to a
		// secret's ARN; the name is fixed, the suffix is not.
		arn := s.Stack.FormatArn(&awscdk.ArnComponents{
			Service:      jsii.String("secretsmanager"),
			Resource:     jsii.String("secret"),
			ResourceName: jsii.String(secretName + "-??????"),
			ArnFormat:    awscdk.ArnFormat_COLON_RESOURCE_NAME,
		})
		s.allow(role, "Read"+what, []string{"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"}, *arn)
		if writable {
			s.allow(role, "Write"+what, []string{"secretsmanager:PutSecretValue"}, *arn)
		}
	} else {
		arn := s.Stack.FormatArn(&awscdk.ArnComponents{
			Service:      jsii.String("ssm"),
			Resource:     jsii.String("parameter"),
			ResourceName: jsii.String(strings.TrimPrefix(ssmName, "/")), // ...:parameter/plba/dev/x for /plba/dev/x
			ArnFormat:    awscdk.ArnFormat_SLASH_RESOURCE_NAME,
		})
		s.allow(role, "Read"+what, []string{"ssm:GetParameter", "ssm:GetParameters"}, *arn)
		if writable {
			s.allow(role, "Write"+what, []string{"ssm:PutParameter"}, *arn)
		}
	}
	if kmsARN != "" {
		actions := []string{"kms:Decrypt"}
		if writable {
			actions = append(actions, "kms:Encrypt", "kms:GenerateDataKey")
		}
		role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("Decrypt" + what),
			Effect:    awsiam.Effect_ALLOW,
			Actions:   jsii.Strings(actions...),
			Resources: jsii.Strings(kmsARN),
			Conditions: &map[string]any{"StringEquals": map[string]any{
				"kms:ViaService": service + "." + *s.Stack.Region() + ".amazonaws.com",
			}},
		}))
	}
}

// MetricsNamespace is the CloudWatch namespace of the functions' EMF
// metrics: one per stack, so stages never mix.
func (c Config) MetricsNamespace() string { return "PLBA/" + c.ResolvedStackName() }

// emfMetric is one of the functions' EMF metrics (pkg/telemetry names),
// rolled up without dimensions or by the dimensions given.
func (s *Stack) emfMetric(name, stat string, period awscdk.Duration, dims map[string]*string) awscloudwatch.Metric {
	return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
		Namespace: jsii.String(s.Config.MetricsNamespace()), MetricName: jsii.String(name),
		DimensionsMap: &dims, Statistic: jsii.String(stat), Period: period,
	})
}

func (s *Stack) addAlarms() {
	cfg := s.Config
	var action awscloudwatch.IAlarmAction
	switch {
	case cfg.Alarms.TopicARN != "":
		action = awscloudwatchactions.NewSnsAction(awssns.Topic_FromTopicArn(s.Stack, jsii.String("AlarmTopic"), jsii.String(cfg.Alarms.TopicARN)))
	case cfg.Alarms.CreateTopic:
		s.Topic = awssns.NewTopic(s.Stack, jsii.String("AlarmTopic"), &awssns.TopicProps{
			DisplayName: jsii.String("PLBA alarms (" + cfg.ResolvedStackName() + ")"),
		})
		for i, e := range cfg.Alarms.Emails {
			awssns.NewSubscription(s.Stack, jsii.String("AlarmEmail"+strconv.Itoa(i)), &awssns.SubscriptionProps{
				Topic: s.Topic, Protocol: awssns.SubscriptionProtocol_EMAIL, Endpoint: jsii.String(e),
			})
		}
		action = awscloudwatchactions.NewSnsAction(s.Topic)
	}
	type opts struct {
		threshold float64
		periods   float64
	}
	add := func(id, desc string, m awscloudwatch.IMetric, o opts) {
		if o.periods == 0 {
			o.periods = 1
		}
		a := awscloudwatch.NewAlarm(s.Stack, jsii.String(id), &awscloudwatch.AlarmProps{
			AlarmDescription:   jsii.String(desc),
			Metric:             m,
			Threshold:          jsii.Number(o.threshold),
			ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
			EvaluationPeriods:  jsii.Number(o.periods),
			TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
		})
		if action != nil {
			a.AddAlarmAction(action)
			a.AddOkAction(action)
		}
		s.Alarms = append(s.Alarms, a)
	}
	minute := awscdk.Duration_Minutes(jsii.Number(1))
	five := awscdk.Duration_Minutes(jsii.Number(5))
	stage := " (" + cfg.Stage + ")"
	add("DeadLetterQueueNotEmpty", "Tasks are in the PLBA dead-letter queue"+stage+": inspect them, then redrive with the control function.",
		s.DeadLetterQueue.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{
			Period: minute, Statistic: jsii.String("Maximum"),
		}), opts{})
	add("WorkerErrors", "The PLBA worker function failed invocations"+stage+"; record-level failures are retried by SQS and do not count here.",
		s.Worker.MetricErrors(&awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("Sum")}), opts{})
	add("PollerErrors", "The PLBA poller function failed invocations"+stage+".",
		s.Poller.MetricErrors(&awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("Sum")}), opts{})
	add("ControlErrors", "The PLBA control function"+stage+" failed invocations; a failed action is an answer, not one of these.",
		s.Control.MetricErrors(&awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("Sum")}), opts{})
	add("WorkerThrottles", "The PLBA worker function"+stage+" was throttled: records wait in the queue (reserved or account concurrency).",
		s.Worker.MetricThrottles(&awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("Sum")}), opts{})
	add("TaskQueueOldestMessage", fmt.Sprintf("The oldest task in the PLBA queue%s is older than %s: the worker falls behind or fails.", stage, cfg.Alarms.OldestMessageAge),
		s.Queue.MetricApproximateAgeOfOldestMessage(&awscloudwatch.MetricOptions{Period: minute, Statistic: jsii.String("Maximum")}),
		opts{threshold: cfg.Alarms.OldestMessageAge.seconds(), periods: 5})
	add("TaskQueueDepth", fmt.Sprintf("More than %d tasks wait in the PLBA queue%s.", cfg.Alarms.QueueDepth, stage),
		s.Queue.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{Period: minute, Statistic: jsii.String("Maximum")}),
		opts{threshold: float64(cfg.Alarms.QueueDepth), periods: 5})
	expiry := time.Duration(cfg.Queue.DLQRetention) - time.Duration(cfg.Alarms.DeadLetterExpiryWarning)
	add("DeadLetterExpiry", fmt.Sprintf("A PLBA dead letter%s is older than %s: SQS deletes it at %s (queue.dlq_retention); redrive or save it now.", stage, Duration(expiry), cfg.Queue.DLQRetention),
		s.DeadLetterQueue.MetricApproximateAgeOfOldestMessage(&awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("Maximum")}),
		opts{threshold: expiry.Seconds()})
	// From the functions' own metrics (EMF, pkg/telemetry names): a source
	// whose poll failed inside an invocation that itself succeeded.
	add("PollerSourceFailures", "A PLBA source"+stage+" failed to poll (plba.lambda.poller.errors); the poller's log has the error.",
		s.emfMetric("plba.lambda.poller.errors", "Sum", five, map[string]*string{}), opts{})
}

// addDashboard adds one dashboard of the main metrics: the queue, the
// functions and the tasks by outcome (EMF).
func (s *Stack) addDashboard() {
	if !s.Config.Dashboard.Enabled {
		return
	}
	five := awscdk.Duration_Minutes(jsii.Number(5))
	graph := func(title string, left ...awscloudwatch.IMetric) awscloudwatch.IWidget {
		return awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{
			Title: jsii.String(title), Left: &left, Width: jsii.Number(12), Height: jsii.Number(6),
		})
	}
	fnOpts := func(stat string) *awscloudwatch.MetricOptions {
		return &awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String(stat)}
	}
	outcome := func(o string) awscloudwatch.IMetric {
		return s.emfMetric("plba.tasks", "Sum", five, map[string]*string{"outcome": jsii.String(o)})
	}
	s.Dashboard = awscloudwatch.NewDashboard(s.Stack, jsii.String("Dashboard"), &awscloudwatch.DashboardProps{
		DashboardName: jsii.String(s.Config.ResolvedStackName()),
		Widgets: &[]*[]awscloudwatch.IWidget{
			{
				graph("Tasks by outcome (plba.tasks)", outcome("succeeded"), outcome("retried"), outcome("dead_lettered"), outcome("panicked")),
				graph("Routine duration (plba.routine.duration, s)",
					s.emfMetric("plba.routine.duration", "p50", five, map[string]*string{}),
					s.emfMetric("plba.routine.duration", "p99", five, map[string]*string{})),
			},
			{
				graph("Task queue", s.Queue.MetricApproximateNumberOfMessagesVisible(fnOpts("Maximum")),
					s.Queue.MetricApproximateNumberOfMessagesNotVisible(fnOpts("Maximum"))),
				graph("Oldest task (s)", s.Queue.MetricApproximateAgeOfOldestMessage(fnOpts("Maximum")),
					s.DeadLetterQueue.MetricApproximateAgeOfOldestMessage(fnOpts("Maximum"))),
			},
			{
				graph("Dead letters", s.DeadLetterQueue.MetricApproximateNumberOfMessagesVisible(fnOpts("Maximum"))),
				graph("Worker batches (plba.lambda.batch.*)",
					s.emfMetric("plba.lambda.batch.records", "Sum", five, map[string]*string{}),
					s.emfMetric("plba.lambda.batch.failures", "Sum", five, map[string]*string{})),
			},
			{
				graph("Invocations and errors", s.Worker.MetricInvocations(fnOpts("Sum")), s.Worker.MetricErrors(fnOpts("Sum")),
					s.Worker.MetricThrottles(fnOpts("Sum")), s.Poller.MetricErrors(fnOpts("Sum")), s.Control.MetricErrors(fnOpts("Sum"))),
				graph("Poller (plba.lambda.poller.*)",
					s.emfMetric("plba.lambda.poller.published", "Sum", five, map[string]*string{}),
					s.emfMetric("plba.lambda.poller.errors", "Sum", five, map[string]*string{}),
					s.emfMetric("plba.imap.lag", "Maximum", five, map[string]*string{})),
			},
		},
	})
}

func (s *Stack) addOutputs() {
	out := func(id, desc string, v *string) {
		awscdk.NewCfnOutput(s.Stack, jsii.String(id), &awscdk.CfnOutputProps{Value: v, Description: jsii.String(desc)})
	}
	out("PollerFunctionName", "Poller Lambda function", s.Poller.FunctionName())
	out("WorkerFunctionName", "Worker Lambda function", s.Worker.FunctionName())
	out("ControlFunctionName", "Control Lambda function: aws lambda invoke --function-name <this> --payload '{\"action\":\"status\"}' out.json", s.Control.FunctionName())
	out("TaskQueueUrl", "SQS task queue", s.Queue.QueueUrl())
	out("DeadLetterQueueUrl", "SQS dead-letter queue", s.DeadLetterQueue.QueueUrl())
	if t := s.Config.App.Table; t != nil {
		keys := t.PartitionKey.Name + ", " + t.PartitionKey.Type
		if t.SortKey != nil {
			keys = "partition key " + keys + "; sort key " + t.SortKey.Name + ", " + t.SortKey.Type
		} else {
			keys = "partition key " + keys
		}
		out(t.ID()+"TableName", "DynamoDB "+t.Name+" table ("+keys+")", s.Table.TableName())
	}
	if s.Dashboard != nil {
		out("DashboardName", "CloudWatch dashboard of the queue, the functions and the tasks", s.Dashboard.DashboardName())
	}
	out("MetricsNamespace", "CloudWatch namespace of the functions' EMF metrics (plba.tasks, plba.routine.duration, ...)", jsii.String(s.Config.MetricsNamespace()))
	if s.ControlURL != nil {
		out("ControlFunctionUrl", "Control Function URL (AWS_IAM auth: sign requests with SigV4)", s.ControlURL.Url())
	}
}

var retentionDays = map[int]awslogs.RetentionDays{
	0: awslogs.RetentionDays_INFINITE, 1: awslogs.RetentionDays_ONE_DAY, 3: awslogs.RetentionDays_THREE_DAYS,
	5: awslogs.RetentionDays_FIVE_DAYS, 7: awslogs.RetentionDays_ONE_WEEK, 14: awslogs.RetentionDays_TWO_WEEKS,
	30: awslogs.RetentionDays_ONE_MONTH, 60: awslogs.RetentionDays_TWO_MONTHS, 90: awslogs.RetentionDays_THREE_MONTHS,
	120: awslogs.RetentionDays_FOUR_MONTHS, 150: awslogs.RetentionDays_FIVE_MONTHS, 180: awslogs.RetentionDays_SIX_MONTHS,
	365: awslogs.RetentionDays_ONE_YEAR, 400: awslogs.RetentionDays_THIRTEEN_MONTHS, 545: awslogs.RetentionDays_EIGHTEEN_MONTHS,
	731: awslogs.RetentionDays_TWO_YEARS, 1096: awslogs.RetentionDays_THREE_YEARS, 1827: awslogs.RetentionDays_FIVE_YEARS,
	2192: awslogs.RetentionDays_SIX_YEARS, 2557: awslogs.RetentionDays_SEVEN_YEARS, 2922: awslogs.RetentionDays_EIGHT_YEARS,
	3288: awslogs.RetentionDays_NINE_YEARS, 3653: awslogs.RetentionDays_TEN_YEARS,
}

func retention(days int) awslogs.RetentionDays { return retentionDays[days] }
