package plbastack_test

import (
	"encoding/json"
	"errors"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/plba/plba/infra/plbastack"
)

// The bot's variables, from its manifest (apps/mailorderbot/plba.app.yaml).
const (
	envIMAPAddr     = "PLBA_APPS__MAILORDERBOT__IMAP__ADDR"
	envIMAPMode     = "PLBA_APPS__MAILORDERBOT__IMAP__MODE"
	envIMAPPassword = "PLBA_APPS__MAILORDERBOT__IMAP__PASSWORD"
)

func TestResourceCounts(t *testing.T) {
	s := defaultStack(t)
	want := map[string]float64{
		"AWS::SQS::Queue":                 2, // tasks + dead letters
		"AWS::SQS::QueuePolicy":           2, // TLS only
		"AWS::DynamoDB::Table":            1,
		"AWS::Lambda::Function":           3,
		"AWS::IAM::Role":                  3, // one per function
		"AWS::IAM::Policy":                3,
		"AWS::Logs::LogGroup":             3,
		"AWS::Lambda::EventSourceMapping": 1,
		"AWS::Lambda::Url":                1,
		"AWS::Events::Rule":               1,
		"AWS::Lambda::Permission":         1, // EventBridge → poller
		"AWS::CloudWatch::Alarm":          9,
		"AWS::CloudWatch::Dashboard":      1,
		"AWS::SNS::Topic":                 0, // only with alarms.create_topic
		"AWS::SSM::Parameter":             0, // referenced, never created with a value
		"AWS::SecretsManager::Secret":     0,
		"Custom::LogRetention":            0, // log groups are real resources
	}
	for typ, n := range want {
		must(t, typ, func() { s.tmpl.ResourceCountIs(jsii.String(typ), jsii.Number(n)) })
	}
	// 31 and the poller's EventInvokeConfig (no asynchronous retries).
	if got, want := len(s.json["Resources"].(map[string]any)), 32; got != want {
		t.Errorf("template has %d resources, want %d: %v", got, want, slices.Sorted(maps.Keys(s.json["Resources"].(map[string]any))))
	}
}

func TestQueuesSSEAndRedrive(t *testing.T) {
	s := defaultStack(t)
	dlqID, dlq := s.one(t, "AWS::SQS::Queue", func(p map[string]any) bool { return p["RedrivePolicy"] == nil })
	_, q := s.one(t, "AWS::SQS::Queue", func(p map[string]any) bool { return p["RedrivePolicy"] != nil })

	for name, p := range map[string]map[string]any{"task queue": q, "dead-letter queue": dlq} {
		if p["SqsManagedSseEnabled"] != true {
			t.Errorf("%s: SqsManagedSseEnabled = %v, want true", name, p["SqsManagedSseEnabled"])
		}
	}
	rp := q["RedrivePolicy"].(map[string]any)
	if got := getAtt(rp["deadLetterTargetArn"]); got != dlqID {
		t.Errorf("redrive target = %q, want the dead-letter queue %q", got, dlqID)
	}
	if rp["maxReceiveCount"] != 5.0 {
		t.Errorf("maxReceiveCount = %v, want 5", rp["maxReceiveCount"])
	}
	if q["VisibilityTimeout"] != 180.0 || q["MessageRetentionPeriod"] != 345600.0 || dlq["MessageRetentionPeriod"] != 1209600.0 {
		t.Errorf("timeouts: visibility %v retention %v dlq retention %v", q["VisibilityTimeout"], q["MessageRetentionPeriod"], dlq["MessageRetentionPeriod"])
	}
	// The same through the assertions matchers.
	must(t, "redrive policy", func() {
		s.tmpl.HasResourceProperties(jsii.String("AWS::SQS::Queue"), map[string]any{
			"SqsManagedSseEnabled": true,
			"RedrivePolicy": map[string]any{
				"deadLetterTargetArn": map[string]any{"Fn::GetAtt": []any{dlqID, "Arn"}},
				"maxReceiveCount":     5,
			},
		})
	})
	must(t, "TLS-only queue policies", func() {
		s.tmpl.ResourcePropertiesCountIs(jsii.String("AWS::SQS::QueuePolicy"), map[string]any{
			"PolicyDocument": assertions.Match_ObjectLike(&map[string]any{
				"Statement": []any{map[string]any{
					"Effect": "Deny", "Action": "sqs:*",
					"Condition": map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}},
					"Principal": map[string]any{"AWS": "*"},
					"Resource":  assertions.Match_AnyValue(),
				}},
			}),
		}, jsii.Number(2))
	})
}

func TestVisibilityTimeoutIsSixTimesWorkerTimeout(t *testing.T) {
	s := defaultStack(t)
	_, q := s.one(t, "AWS::SQS::Queue", func(p map[string]any) bool { return p["RedrivePolicy"] != nil })
	_, w := s.one(t, "AWS::Lambda::Function", func(p map[string]any) bool { return p["FunctionName"] == "plba-test-worker" })
	vis, timeout := q["VisibilityTimeout"].(float64), w["Timeout"].(float64)
	if vis < 6*timeout {
		t.Errorf("queue VisibilityTimeout %v < 6 × worker Timeout %v", vis, timeout)
	}
}

func TestEventSourceMapping(t *testing.T) {
	s := defaultStack(t)
	qID, _ := s.one(t, "AWS::SQS::Queue", func(p map[string]any) bool { return p["RedrivePolicy"] != nil })
	wID, _ := s.one(t, "AWS::Lambda::Function", func(p map[string]any) bool { return p["FunctionName"] == "plba-test-worker" })
	_, esm := s.one(t, "AWS::Lambda::EventSourceMapping", func(map[string]any) bool { return true })

	if got := esm["FunctionResponseTypes"]; !jsonEqual(got, []any{"ReportBatchItemFailures"}) {
		t.Errorf("FunctionResponseTypes = %v, want [ReportBatchItemFailures]", got)
	}
	if getAtt(esm["EventSourceArn"]) != qID || ref(esm["FunctionName"]) != wID {
		t.Errorf("mapping connects %v → %v, want task queue %s → worker %s", esm["EventSourceArn"], esm["FunctionName"], qID, wID)
	}
	if esm["BatchSize"] != 10.0 || !jsonEqual(esm["ScalingConfig"], map[string]any{"MaximumConcurrency": 10.0}) {
		t.Errorf("BatchSize %v ScalingConfig %v, want 10 and MaximumConcurrency 10", esm["BatchSize"], esm["ScalingConfig"])
	}
	if _, ok := esm["MaximumBatchingWindowInSeconds"]; ok {
		t.Errorf("batching window set although worker.batching_window is 0: %v", esm["MaximumBatchingWindowInSeconds"])
	}
	must(t, "FunctionResponseTypes via assertions", func() {
		s.tmpl.HasResourceProperties(jsii.String("AWS::Lambda::EventSourceMapping"), map[string]any{
			"FunctionResponseTypes": []any{"ReportBatchItemFailures"},
		})
	})
}

func TestFunctions(t *testing.T) {
	s := defaultStack(t)
	fns := map[string]map[string]any{}
	for _, r := range s.resources("AWS::Lambda::Function") {
		p := r["Properties"].(map[string]any)
		fns[p["FunctionName"].(string)] = p
	}
	logGroups := map[string]string{} // logical id → name
	for id, r := range s.resources("AWS::Logs::LogGroup") {
		p := r["Properties"].(map[string]any)
		logGroups[id] = p["LogGroupName"].(string)
		if p["RetentionInDays"] != 30.0 {
			t.Errorf("log group %v: RetentionInDays = %v, want 30", p["LogGroupName"], p["RetentionInDays"])
		}
	}
	for _, fn := range []string{"poller", "worker", "control"} {
		name := "plba-test-" + fn
		p, ok := fns[name]
		if !ok {
			t.Errorf("no function %s (have %v)", name, slices.Sorted(maps.Keys(fns)))
			continue
		}
		if p["Runtime"] != "provided.al2023" || p["Handler"] != "bootstrap" || !jsonEqual(p["Architectures"], []any{"arm64"}) {
			t.Errorf("%s: runtime %v handler %v arch %v", name, p["Runtime"], p["Handler"], p["Architectures"])
		}
		lg := ref(p["LoggingConfig"].(map[string]any)["LogGroup"])
		if logGroups[lg] != "/aws/lambda/"+name {
			t.Errorf("%s logs to %q (%s), want /aws/lambda/%s", name, logGroups[lg], lg, name)
		}
		env := p["Environment"].(map[string]any)["Variables"].(map[string]any)
		if env[plbastack.EnvStage] != "test" || env[envIMAPAddr] != "imap.example.com:993" ||
			env[envIMAPMode] != "poll" || ref(env[plbastack.EnvQueueURL]) == "" {
			t.Errorf("%s env: %v", name, env)
		}
		pw, hasPW := env[envIMAPPassword]
		if wantPW := fn != "control"; hasPW != wantPW {
			t.Errorf("%s: has %s = %v, want %v", name, envIMAPPassword, hasPW, wantPW)
		} else if hasPW && pw != "${ssm:/plba/test/imap-password}" {
			t.Errorf("%s: %s = %v, want the SSM reference, never a value", name, envIMAPPassword, pw)
		}
		_, hasTable := env[plbastack.EnvStoreTable]
		if want := fn != "poller"; hasTable != want {
			t.Errorf("%s: has %s = %v, want %v", name, plbastack.EnvStoreTable, hasTable, want)
		}
		if ref(env[plbastack.EnvDLQURL]) == "" || env[plbastack.EnvMaxReceiveCount] != "5" {
			t.Errorf("%s: %s = %v, %s = %v", name, plbastack.EnvDLQURL, env[plbastack.EnvDLQURL],
				plbastack.EnvMaxReceiveCount, env[plbastack.EnvMaxReceiveCount])
		}
	}
	// One poll of the mailbox at a time, never retried asynchronously.
	if rc := fns["plba-test-poller"]["ReservedConcurrentExecutions"]; rc != 1.0 {
		t.Errorf("poller reserved concurrency %v, want 1", rc)
	}
	must(t, "poller async retries", func() {
		s.tmpl.HasResourceProperties(jsii.String("AWS::Lambda::EventInvokeConfig"), map[string]any{
			"MaximumRetryAttempts": 0, "MaximumEventAgeInSeconds": 60, "Qualifier": "$LATEST",
		})
	})
}

func TestTable(t *testing.T) {
	s := defaultStack(t)
	must(t, "orders table", func() {
		s.tmpl.HasResource(jsii.String("AWS::DynamoDB::Table"), map[string]any{
			"DeletionPolicy":      "Retain",
			"UpdateReplacePolicy": "Retain",
			"Properties": map[string]any{
				"BillingMode": "PAY_PER_REQUEST",
				"KeySchema":   []any{map[string]any{"AttributeName": "pk", "KeyType": "HASH"}},
				// The layout of apps/mailorderbot/store/dynamostore.TableSchema.
				"AttributeDefinitions": []any{
					map[string]any{"AttributeName": "pk", "AttributeType": "S"},
					map[string]any{"AttributeName": "st", "AttributeType": "S"},
					map[string]any{"AttributeName": "ca", "AttributeType": "N"},
					map[string]any{"AttributeName": "op", "AttributeType": "S"},
					map[string]any{"AttributeName": "rca", "AttributeType": "N"},
				},
				"GlobalSecondaryIndexes": []any{
					map[string]any{
						"IndexName": "by_status",
						"KeySchema": []any{
							map[string]any{"AttributeName": "st", "KeyType": "HASH"},
							map[string]any{"AttributeName": "ca", "KeyType": "RANGE"},
						},
						"Projection": map[string]any{"ProjectionType": "ALL"},
					},
					map[string]any{
						"IndexName": "outbox_pending",
						"KeySchema": []any{
							map[string]any{"AttributeName": "op", "KeyType": "HASH"},
							map[string]any{"AttributeName": "rca", "KeyType": "RANGE"},
						},
						"Projection": map[string]any{"ProjectionType": "ALL"},
					},
				},
				"PointInTimeRecoverySpecification": map[string]any{"PointInTimeRecoveryEnabled": true},
				"SSESpecification":                 map[string]any{"SSEEnabled": true},
			},
		})
	})
}

func TestScheduleAndFunctionURL(t *testing.T) {
	s := defaultStack(t)
	pollerID, _ := s.one(t, "AWS::Lambda::Function", func(p map[string]any) bool { return p["FunctionName"] == "plba-test-poller" })
	controlID, _ := s.one(t, "AWS::Lambda::Function", func(p map[string]any) bool { return p["FunctionName"] == "plba-test-control" })
	_, rule := s.one(t, "AWS::Events::Rule", func(map[string]any) bool { return true })
	if rule["ScheduleExpression"] != "rate(1 minute)" {
		t.Errorf("ScheduleExpression = %v", rule["ScheduleExpression"])
	}
	targets := rule["Targets"].([]any)
	if len(targets) != 1 || getAtt(targets[0].(map[string]any)["Arn"]) != pollerID {
		t.Errorf("rule targets %v, want only the poller %s", targets, pollerID)
	}
	_, url := s.one(t, "AWS::Lambda::Url", func(map[string]any) bool { return true })
	if url["AuthType"] != "AWS_IAM" || getAtt(url["TargetFunctionArn"]) != controlID {
		t.Errorf("Function URL %v, want AuthType AWS_IAM on the control function %s", url, controlID)
	}
	must(t, "Function URL auth type", func() {
		s.tmpl.HasResourceProperties(jsii.String("AWS::Lambda::Url"), map[string]any{"AuthType": "AWS_IAM"})
	})
	// Nothing else may invoke the functions: the only permission is
	// EventBridge's on the poller, scoped to the rule.
	_, perm := s.one(t, "AWS::Lambda::Permission", func(map[string]any) bool { return true })
	if perm["Principal"] != "events.amazonaws.com" || getAtt(perm["FunctionName"]) != pollerID || getAtt(perm["SourceArn"]) == "" {
		t.Errorf("unexpected permission %v", perm)
	}
}

func TestAlarms(t *testing.T) {
	s := defaultStack(t)
	dlqID, _ := s.one(t, "AWS::SQS::Queue", func(p map[string]any) bool { return p["RedrivePolicy"] == nil })
	workerID, _ := s.one(t, "AWS::Lambda::Function", func(p map[string]any) bool { return p["FunctionName"] == "plba-test-worker" })
	_, dlqAlarm := s.one(t, "AWS::CloudWatch::Alarm", func(p map[string]any) bool {
		return p["MetricName"] == "ApproximateNumberOfMessagesVisible" && getAtt(p["Dimensions"].([]any)[0].(map[string]any)["Value"]) == dlqID
	})
	if dlqAlarm["Namespace"] != "AWS/SQS" || dlqAlarm["Threshold"] != 0.0 || dlqAlarm["ComparisonOperator"] != "GreaterThanThreshold" ||
		getAtt(dlqAlarm["Dimensions"].([]any)[0].(map[string]any)["Value"]) != dlqID {
		t.Errorf("DLQ alarm: %v", dlqAlarm)
	}
	_, workerAlarm := s.one(t, "AWS::CloudWatch::Alarm", func(p map[string]any) bool {
		return p["MetricName"] == "Errors" && ref(p["Dimensions"].([]any)[0].(map[string]any)["Value"]) == workerID
	})
	if workerAlarm["Namespace"] != "AWS/Lambda" || workerAlarm["Threshold"] != 0.0 ||
		workerAlarm["ComparisonOperator"] != "GreaterThanThreshold" || workerAlarm["Statistic"] != "Sum" {
		t.Errorf("worker errors alarm: %v", workerAlarm)
	}
	if _, ok := dlqAlarm["AlarmActions"]; ok {
		t.Errorf("alarm actions without alarms.topic_arn: %v", dlqAlarm["AlarmActions"])
	}
	// The new alarms: the task queue's age and depth (5 of 5 minutes), the
	// dead letters' age before retention deletes them, throttles, control
	// errors, and the poller's source failures from its EMF metrics.
	alarm := func(metric string, match func(map[string]any) bool) map[string]any {
		_, a := s.one(t, "AWS::CloudWatch::Alarm", func(p map[string]any) bool { return p["MetricName"] == metric && (match == nil || match(p)) })
		return a
	}
	taskQueueID, _ := s.one(t, "AWS::SQS::Queue", func(p map[string]any) bool { return p["RedrivePolicy"] != nil })
	age := alarm("ApproximateAgeOfOldestMessage", func(p map[string]any) bool {
		return getAtt(p["Dimensions"].([]any)[0].(map[string]any)["Value"]) == taskQueueID
	})
	if age["Threshold"] != 900.0 || age["EvaluationPeriods"] != 5.0 || age["Statistic"] != "Maximum" {
		t.Errorf("oldest message alarm: %v", age)
	}
	dlqAge := alarm("ApproximateAgeOfOldestMessage", func(p map[string]any) bool {
		return getAtt(p["Dimensions"].([]any)[0].(map[string]any)["Value"]) == dlqID
	})
	if dlqAge["Threshold"] != (336-48)*3600.0 {
		t.Errorf("dead letter expiry alarm: %v (want 336h - 48h)", dlqAge)
	}
	if depth := alarm("ApproximateNumberOfMessagesVisible", func(p map[string]any) bool {
		return getAtt(p["Dimensions"].([]any)[0].(map[string]any)["Value"]) == taskQueueID
	}); depth["Threshold"] != 1000.0 {
		t.Errorf("depth alarm: %v", depth)
	}
	if th := alarm("Throttles", nil); ref(th["Dimensions"].([]any)[0].(map[string]any)["Value"]) != workerID {
		t.Errorf("throttles alarm: %v", th)
	}
	controlID, _ := s.one(t, "AWS::Lambda::Function", func(p map[string]any) bool { return p["FunctionName"] == "plba-test-control" })
	alarm("Errors", func(p map[string]any) bool {
		return ref(p["Dimensions"].([]any)[0].(map[string]any)["Value"]) == controlID
	})
	if pf := alarm("plba.lambda.poller.errors", nil); pf["Namespace"] != "PLBA/plba-test" || pf["Statistic"] != "Sum" || pf["Dimensions"] != nil {
		t.Errorf("poller failures alarm: %v", pf)
	}
}

// The poller and the worker write EMF to the stack's namespace and have
// active tracing; the control function has neither. The dashboard shows
// the EMF task metrics.
func TestTelemetry(t *testing.T) {
	s := defaultStack(t)
	for _, fn := range []string{"plba-test-poller", "plba-test-worker", "plba-test-control"} {
		_, f := s.one(t, "AWS::Lambda::Function", func(p map[string]any) bool { return p["FunctionName"] == fn })
		env := f["Environment"].(map[string]any)["Variables"].(map[string]any)
		tracing, _ := f["TracingConfig"].(map[string]any)
		if fn == "plba-test-control" {
			if env[plbastack.EnvMetricsNamespace] != nil || tracing != nil {
				t.Errorf("%s: namespace %v tracing %v", fn, env[plbastack.EnvMetricsNamespace], tracing)
			}
			continue
		}
		if env[plbastack.EnvMetricsNamespace] != "PLBA/plba-test" || tracing["Mode"] != "Active" {
			t.Errorf("%s: namespace %v tracing %v", fn, env[plbastack.EnvMetricsNamespace], tracing)
		}
	}
	_, d := s.one(t, "AWS::CloudWatch::Dashboard", func(map[string]any) bool { return true })
	body, _ := json.Marshal(d["DashboardBody"])
	for _, want := range []string{"plba.tasks", "dead_lettered", "plba.routine.duration", "ApproximateAgeOfOldestMessage", "PLBA/plba-test"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("dashboard lacks %s", want)
		}
	}
}

func TestOutputs(t *testing.T) {
	s := defaultStack(t)
	outs := s.json["Outputs"].(map[string]any)
	want := []string{"ControlFunctionName", "ControlFunctionUrl", "DashboardName", "DeadLetterQueueUrl", "MetricsNamespace", "OrdersTableName",
		"PollerFunctionName", "TaskQueueUrl", "WorkerFunctionName"}
	if got := slices.Sorted(maps.Keys(outs)); !slices.Equal(got, want) {
		t.Errorf("outputs %v, want %v", got, want)
	}
	must(t, "control function output", func() {
		s.tmpl.HasOutput(jsii.String("ControlFunctionName"), map[string]any{"Value": assertions.Match_ObjectLike(&map[string]any{"Ref": assertions.Match_AnyValue()})})
	})
}

// access is what one role may do: actions per resource kind.
type access map[string][]string

// rolesAccess reads every IAM policy of the template and returns, per
// function name, the sorted actions per resource it names.
func rolesAccess(t *testing.T, s *synthesized) map[string]access {
	t.Helper()
	kind := map[string]string{} // logical id → resource kind
	for id, r := range s.resources("AWS::SQS::Queue") {
		if r["Properties"].(map[string]any)["RedrivePolicy"] != nil {
			kind[id] = "queue"
		} else {
			kind[id] = "dlq"
		}
	}
	for id := range s.resources("AWS::DynamoDB::Table") {
		kind[id] = "table"
	}
	for id := range s.resources("AWS::Events::Rule") {
		kind[id] = "schedule"
	}
	esmIDs := map[string]bool{}
	for id := range s.resources("AWS::Lambda::EventSourceMapping") {
		esmIDs[id] = true
	}
	for id, r := range s.resources("AWS::Logs::LogGroup") {
		kind[id] = "logs:" + r["Properties"].(map[string]any)["LogGroupName"].(string)
	}
	for id := range esmIDs {
		kind[id] = "mapping"
	}
	roleFn := map[string]string{}
	for _, r := range s.resources("AWS::Lambda::Function") {
		p := r["Properties"].(map[string]any)
		roleFn[getAtt(p["Role"])] = p["FunctionName"].(string)
	}
	for id, r := range s.resources("AWS::IAM::Role") {
		p := r["Properties"].(map[string]any)
		if p["ManagedPolicyArns"] != nil || p["Policies"] != nil {
			t.Errorf("role %s has managed or inline policies: %v %v", id, p["ManagedPolicyArns"], p["Policies"])
		}
		stmt := p["AssumeRolePolicyDocument"].(map[string]any)["Statement"].([]any)
		if len(stmt) != 1 || !jsonEqual(stmt[0].(map[string]any)["Principal"], map[string]any{"Service": "lambda.amazonaws.com"}) {
			t.Errorf("role %s is assumable by %v, want only lambda.amazonaws.com", id, stmt)
		}
	}

	out := map[string]access{}
	for id, r := range s.resources("AWS::IAM::Policy") {
		p := r["Properties"].(map[string]any)
		roles := p["Roles"].([]any)
		if len(roles) != 1 {
			t.Fatalf("policy %s attaches to %v, want one role", id, roles)
		}
		fn := roleFn[ref(roles[0])]
		if fn == "" {
			t.Fatalf("policy %s attaches to %v, which no function uses", id, roles)
		}
		if out[fn] == nil {
			out[fn] = access{}
		}
		for _, st := range p["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			st := st.(map[string]any)
			if st["Effect"] != "Allow" || st["NotAction"] != nil || st["NotResource"] != nil {
				t.Errorf("%s: unexpected statement %v", fn, st)
			}
			for _, res := range list(st["Resource"]) {
				k := resourceKind(kind, res)
				if res == "*" && xrayOnly(st["Action"]) {
					// X-Ray's write actions take no resource: active
					// tracing (tracing.active) needs them on "*".
					k = "xray"
				}
				if k == "" {
					t.Errorf("%s: statement %v has resource %v that is none of the stack's own resources", fn, st["Sid"], res)
					continue
				}
				if k == "kms" && st["Condition"] == nil {
					t.Errorf("%s: kms statement without a kms:ViaService condition", fn)
				}
				for _, a := range list(st["Action"]) {
					if !slices.Contains(out[fn][k], a.(string)) {
						out[fn][k] = append(out[fn][k], a.(string))
					}
				}
				slices.Sort(out[fn][k])
			}
		}
	}
	return out
}

// xrayActions are what Lambda active tracing needs, on "*" (X-Ray has no
// resource-level permissions).
var xrayActions = []any{"xray:PutTelemetryRecords", "xray:PutTraceSegments"}

func xrayOnly(actions any) bool {
	for _, a := range list(actions) {
		if !slices.Contains(xrayActions, a) {
			return false
		}
	}
	return true
}

// resourceKind names a policy resource, or "" for anything not owned by
// the stack or the configuration (including "*").
func resourceKind(kind map[string]string, res any) string {
	if s, ok := res.(string); ok {
		if strings.HasPrefix(s, "arn:aws:kms:") {
			return "kms"
		}
		return "" // "*" and any literal ARN we did not configure
	}
	if id := getAtt(res); id != "" {
		return kind[id]
	}
	// arn:…:lambda:REGION:ACCOUNT:event-source-mapping:<Ref to a mapping>
	if j, ok := res.(map[string]any)["Fn::Join"].([]any); ok && len(j) == 2 {
		if parts, ok := j[1].([]any); ok && len(parts) > 1 {
			if pre, ok := parts[len(parts)-2].(string); ok && strings.HasSuffix(pre, ":event-source-mapping:") {
				if id := ref(parts[len(parts)-1]); kind[id] == "mapping" {
					return "mapping"
				}
			}
		}
	}
	if j, ok := res.(map[string]any)["Fn::Join"].([]any); ok && len(j) == 2 {
		if parts, ok := j[1].([]any); ok && len(parts) == 2 && kind[getAtt(parts[0])] == "table" {
			if idx, ok := parts[1].(string); ok && strings.HasPrefix(idx, "/index/") && !strings.Contains(idx, "*") {
				return "index:" + strings.TrimPrefix(idx, "/index/")
			}
		}
	}
	b, _ := json.Marshal(res)
	js := string(b)
	if strings.Contains(js, "*") {
		return ""
	}
	// Parameters and secrets of stage "test" only (under any
	// application's prefix).
	if m := ssmARN.FindStringSubmatch(js); m != nil {
		return "ssm:" + m[1]
	}
	if m := secretARN.FindStringSubmatch(js); m != nil {
		return "secret:" + m[1]
	}
	return ""
}

var (
	ssmARN    = regexp.MustCompile(`:parameter(/[a-z0-9-]+/test/[a-z-]+)"`)
	secretARN = regexp.MustCompile(`:secret:([a-z0-9-]+/test/[a-z-]+)-\?{6}"`)
)

func list(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	return []any{v}
}

var (
	logActions  = []string{"logs:CreateLogStream", "logs:PutLogEvents"}
	ssmActions  = []string{"ssm:GetParameter", "ssm:GetParameters"}
	tableWorker = []string{"dynamodb:BatchGetItem", "dynamodb:BatchWriteItem", "dynamodb:ConditionCheckItem",
		"dynamodb:DeleteItem", "dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query",
		"dynamodb:UpdateItem"}
)

func TestIAMLeastPrivilege(t *testing.T) {
	s := defaultStack(t)
	got := rolesAccess(t, s)
	want := map[string]access{
		"plba-test-poller": {
			"logs:/aws/lambda/plba-test-poller": logActions,
			"queue":                             {"sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:SendMessage"},
			"ssm:/plba/test/imap-password":      ssmActions,
			"xray":                              {"xray:PutTelemetryRecords", "xray:PutTraceSegments"},
		},
		"plba-test-worker": {
			"logs:/aws/lambda/plba-test-worker": logActions,
			"queue": {"sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes",
				"sqs:GetQueueUrl", "sqs:ReceiveMessage"},
			"dlq":                          {"sqs:GetQueueAttributes", "sqs:SendMessage"},
			"table":                        tableWorker,
			"index:by_status":              {"dynamodb:Query"},
			"index:outbox_pending":         {"dynamodb:Query"},
			"ssm:/plba/test/imap-password": ssmActions,
			"xray":                         {"xray:PutTelemetryRecords", "xray:PutTraceSegments"},
		},
		"plba-test-control": {
			"logs:/aws/lambda/plba-test-control": logActions,
			"queue":                              {"sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:SendMessage"},
			"dlq": {"sqs:CancelMessageMoveTask", "sqs:ChangeMessageVisibility", "sqs:DeleteMessage",
				"sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:ListMessageMoveTasks", "sqs:ReceiveMessage",
				"sqs:StartMessageMoveTask"},
			"table":                {"dynamodb:BatchGetItem", "dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan"},
			"index:by_status":      {"dynamodb:Query"},
			"index:outbox_pending": {"dynamodb:Query"},
			// Split-mode pause: the worker's own mapping, the poller's own rule.
			"mapping":  {"lambda:GetEventSourceMapping", "lambda:UpdateEventSourceMapping"},
			"schedule": {"events:DescribeRule", "events:DisableRule", "events:EnableRule"},
		},
	}
	compareAccess(t, got, want)

	// Belt and braces through the assertions API: no IAM policy of the
	// stack allows anything on "*" but X-Ray's two write actions.
	must(t, "no * resources", func() {
		s.tmpl.ResourcePropertiesCountIs(jsii.String("AWS::IAM::Policy"), map[string]any{
			"PolicyDocument": assertions.Match_ObjectLike(&map[string]any{
				"Statement": assertions.Match_ArrayWith(&[]any{assertions.Match_ObjectLike(&map[string]any{
					"Resource": "*", "Action": assertions.Match_Not(xrayActions)})}),
			}),
		}, jsii.Number(0))
	})
}

func compareAccess(t *testing.T, got, want map[string]access) {
	t.Helper()
	for fn, w := range want {
		g := got[fn]
		for k, actions := range w {
			if !slices.Equal(g[k], actions) {
				t.Errorf("%s on %s: actions %v, want %v", fn, k, g[k], actions)
			}
		}
		for k, actions := range g {
			if _, ok := w[k]; !ok {
				t.Errorf("%s has unexpected access to %s: %v", fn, k, actions)
			}
		}
	}
	for fn := range got {
		if _, ok := want[fn]; !ok {
			t.Errorf("unexpected policy for %s", fn)
		}
	}
}

func TestFIFOVariant(t *testing.T) {
	cfg := testConfig(t)
	cfg.Queue.FIFO = true
	cfg.Queue.ContentBasedDeduplication = true
	s := synth(t, cfg)
	for id, r := range s.resources("AWS::SQS::Queue") {
		p := r["Properties"].(map[string]any)
		if p["FifoQueue"] != true || p["SqsManagedSseEnabled"] != true {
			t.Errorf("%s: FifoQueue %v SSE %v", id, p["FifoQueue"], p["SqsManagedSseEnabled"])
		}
		if name, _ := p["QueueName"].(string); !strings.HasPrefix(name, "plba-test-") || !strings.HasSuffix(name, ".fifo") {
			t.Errorf("%s: FIFO queue name %q, want plba-test-….fifo", id, p["QueueName"])
		}
	}
	_, q := s.one(t, "AWS::SQS::Queue", func(p map[string]any) bool { return p["RedrivePolicy"] != nil })
	if q["ContentBasedDeduplication"] != true {
		t.Errorf("ContentBasedDeduplication = %v", q["ContentBasedDeduplication"])
	}
	_, esm := s.one(t, "AWS::Lambda::EventSourceMapping", func(map[string]any) bool { return true })
	if _, ok := esm["MaximumBatchingWindowInSeconds"]; ok || !jsonEqual(esm["FunctionResponseTypes"], []any{"ReportBatchItemFailures"}) {
		t.Errorf("FIFO mapping: %v", esm)
	}
	for _, r := range s.resources("AWS::Lambda::Function") {
		env := r["Properties"].(map[string]any)["Environment"].(map[string]any)["Variables"].(map[string]any)
		if env[plbastack.EnvQueueFIFO] != "true" {
			t.Errorf("%s = %v", plbastack.EnvQueueFIFO, env[plbastack.EnvQueueFIFO])
		}
	}
}

// TestVariantOptions covers a Secrets Manager password with a customer
// managed key, the control function reading it, a batching window,
// reserved concurrency and an alarm topic, in one synthesis.
func TestVariantOptions(t *testing.T) {
	cfg := testConfig(t)
	const kmsKey = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	cfg.Secrets = map[string]plbastack.SecretRef{
		"IMAPPassword": {Secret: "plba/{stage}/imap", KMSKeyARN: kmsKey, Functions: []string{"poller", "worker", "control"}},
		"SMTPPassword": {
			Env:          "PLBA_APPS__MAILORDERBOT__SMTP__PASSWORD",
			SSMParameter: "/plba/{stage}/smtp-password",
			Functions:    []string{"worker"},
		},
		// An OAuth refresh token the provider rotates: written back.
		"IMAPRefreshToken": {
			Env:          "PLBA_APPS__MAILORDERBOT__IMAP__AUTH__OAUTH2__REFRESH_TOKEN",
			SSMParameter: "/plba/{stage}/imap-refresh-token",
			Writable:     true,
			Functions:    []string{"poller", "worker"},
		},
	}
	cfg.Control.FunctionURL = false
	cfg.Worker.BatchSize = 100
	cfg.Worker.BatchingWindow = plbastack.Duration(5 * time.Second)
	cfg.Queue.VisibilityTimeout = plbastack.Duration(185 * time.Second) // 6 × 30 s + 5 s
	cfg.Worker.ReservedConcurrency = 20
	cfg.Worker.MaxConcurrency = 20
	cfg.Alarms.TopicARN = "arn:aws:sns:eu-west-1:111122223333:plba-alarms"
	cfg.Account, cfg.Region = "111122223333", "eu-west-1"
	cfg.Environment = map[string]string{"PLBA_APPS__MAILORDERBOT__WORKERS": "4"}
	s := synth(t, cfg)

	secret := []string{"secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"}
	got := rolesAccess(t, s)
	for _, fn := range []string{"plba-test-poller", "plba-test-worker", "plba-test-control"} {
		if a := got[fn]["secret:plba/test/imap"]; !slices.Equal(a, secret) {
			t.Errorf("%s on the secret: %v, want %v", fn, a, secret)
		}
		if a := got[fn]["kms"]; !slices.Equal(a, []string{"kms:Decrypt"}) {
			t.Errorf("%s on the key: %v, want kms:Decrypt", fn, a)
		}
		if _, ok := got[fn]["ssm:/plba/test/imap-password"]; ok {
			t.Errorf("%s still reads the SSM parameter", fn)
		}
	}
	must(t, "kms:ViaService condition", func() {
		s.tmpl.HasResourceProperties(jsii.String("AWS::IAM::Policy"), map[string]any{
			"PolicyDocument": assertions.Match_ObjectLike(&map[string]any{
				"Statement": assertions.Match_ArrayWith(&[]any{map[string]any{
					"Sid": "DecryptIMAPPassword", "Effect": "Allow", "Action": "kms:Decrypt",
					"Resource":  kmsKey,
					"Condition": map[string]any{"StringEquals": map[string]any{"kms:ViaService": "secretsmanager.eu-west-1.amazonaws.com"}},
				}}),
			}),
		})
	})
	must(t, "no Function URL", func() { s.tmpl.ResourceCountIs(jsii.String("AWS::Lambda::Url"), jsii.Number(0)) })
	_, esm := s.one(t, "AWS::Lambda::EventSourceMapping", func(map[string]any) bool { return true })
	if esm["BatchSize"] != 100.0 || esm["MaximumBatchingWindowInSeconds"] != 5.0 {
		t.Errorf("mapping: %v", esm)
	}
	_, w := s.one(t, "AWS::Lambda::Function", func(p map[string]any) bool { return p["FunctionName"] == "plba-test-worker" })
	if w["ReservedConcurrentExecutions"] != 20.0 {
		t.Errorf("worker ReservedConcurrentExecutions = %v", w["ReservedConcurrentExecutions"])
	}
	env := w["Environment"].(map[string]any)["Variables"].(map[string]any)
	if env[envIMAPPassword] != "${secretsmanager:plba/test/imap}" {
		t.Errorf("password reference = %v", env[envIMAPPassword])
	}
	if env["PLBA_APPS__MAILORDERBOT__WORKERS"] != "4" {
		t.Errorf("extra environment missing: %v", env)
	}
	if env["PLBA_APPS__MAILORDERBOT__SMTP__PASSWORD"] != "${ssm:/plba/test/smtp-password}" {
		t.Errorf("SMTP password reference = %v", env["PLBA_APPS__MAILORDERBOT__SMTP__PASSWORD"])
	}
	// The refresh token: poller and worker read and write it, control
	// neither.
	rw := []string{"ssm:GetParameter", "ssm:GetParameters", "ssm:PutParameter"}
	for fn, want := range map[string]bool{"plba-test-poller": true, "plba-test-worker": true, "plba-test-control": false} {
		if got := got[fn]["ssm:/plba/test/imap-refresh-token"]; (got != nil) != want || (want && !slices.Equal(got, rw)) {
			t.Errorf("%s on the refresh token: %v, want %v", fn, got, want)
		}
	}
	// Only the worker may read the SMTP password, and it has no other new
	// access.
	for fn, want := range map[string]bool{"plba-test-poller": false, "plba-test-worker": true, "plba-test-control": false} {
		if got := got[fn]["ssm:/plba/test/smtp-password"]; (got != nil) != want || (want && !slices.Equal(got, ssmActions)) {
			t.Errorf("%s on the SMTP password: %v, want access %v", fn, got, want)
		}
	}
	must(t, "alarm actions", func() {
		s.tmpl.ResourcePropertiesCountIs(jsii.String("AWS::CloudWatch::Alarm"), map[string]any{
			"AlarmActions": []any{cfg.Alarms.TopicARN},
			"OKActions":    []any{cfg.Alarms.TopicARN},
		}, jsii.Number(9))
	})
}

// TestRuleViolationsFailSynth: each AWS rule broken in the configuration
// makes New fail with the documented message, before anything is added to
// the app.
func TestRuleViolationsFailSynth(t *testing.T) {
	cases := []struct {
		name string
		edit func(*plbastack.Config)
		msg  string
	}{
		{"visibility below 6x", func(c *plbastack.Config) {
			c.Queue.VisibilityTimeout = plbastack.Duration(60 * time.Second)
		}, "queue.visibility_timeout (1m0s) must be at least 6 × worker.timeout (30s) + worker.batching_window (0s) = 3m0s"},
		{"batching window on FIFO", func(c *plbastack.Config) {
			c.Queue.FIFO = true
			c.Worker.BatchingWindow = plbastack.Duration(2 * time.Second)
		}, "worker.batching_window (2s) must be 0 on a FIFO queue"},
		{"max concurrency 1", func(c *plbastack.Config) { c.Worker.MaxConcurrency = 1 },
			"worker.max_concurrency (1) must be between 2 and 1000"},
		{"max concurrency 1001", func(c *plbastack.Config) { c.Worker.MaxConcurrency = 1001 },
			"worker.max_concurrency (1001) must be between 2 and 1000"},
		{"max concurrency above reserved", func(c *plbastack.Config) {
			c.Worker.MaxConcurrency = 50
			c.Worker.ReservedConcurrency = 10
		}, "worker.max_concurrency (50) must not exceed worker.reserved_concurrency (10)"},
		{"FIFO batch 11", func(c *plbastack.Config) {
			c.Queue.FIFO = true
			c.Worker.BatchSize = 11
		}, "worker.batch_size (11) must be between 1 and 10 on a FIFO queue"},
		{"batch 0", func(c *plbastack.Config) { c.Worker.BatchSize = 0 },
			"worker.batch_size (0) must be between 1 and 10000"},
		{"batch 10001", func(c *plbastack.Config) {
			c.Worker.BatchSize = 10001
			c.Worker.BatchingWindow = plbastack.Duration(time.Second)
		}, "worker.batch_size (10001) must be between 1 and 10000"},
		{"batch 11 without window", func(c *plbastack.Config) { c.Worker.BatchSize = 11 },
			"worker.batch_size (11) above 10 requires worker.batching_window of at least 1s (is 0s)"},
		{"max receive count", func(c *plbastack.Config) { c.Queue.MaxReceiveCount = 0 },
			"queue.max_receive_count (0) must be between 1 and 1000"},
		{"schedule", func(c *plbastack.Config) { c.Poller.Schedule = "every minute" },
			`poller.schedule "every minute" must be an EventBridge expression`},
		{"schedule plural", func(c *plbastack.Config) { c.Poller.Schedule = "rate(1 minutes)" },
			`poller.schedule "rate(1 minutes)": use a positive rate, singular unit for 1`},
		{"log retention", func(c *plbastack.Config) { c.Logs.RetentionDays = 10 },
			"logs.retention_days (10) must be one of"},
		{"worker timeout", func(c *plbastack.Config) { c.Worker.Timeout = plbastack.Duration(1000 * time.Second) },
			"worker.timeout (16m40s) must be whole seconds between 1s and 15m"},
		{"tls", func(c *plbastack.Config) { c.Settings["imap_tls"] = "yes" },
			`settings.imap_tls "yes" must be one of none, starttls, implicit`},
		{"imap addr", func(c *plbastack.Config) { c.Settings["imap_addr"] = "imap.example.com" },
			`settings.imap_addr "imap.example.com" must match ^[^\s:]+:[0-9]{1,5}$ (the IMAP server, host:port)`},
		{"stack name", func(c *plbastack.Config) { c.StackName = strings.Repeat("x", 57) },
			"stack_name \"" + strings.Repeat("x", 57) + "\" must be 1-56 characters"},
		{"secret without source", func(c *plbastack.Config) {
			c.Secrets = map[string]plbastack.SecretRef{"X": {Env: "PLBA_X__Y", Functions: []string{"worker", "worker"}}}
		}, "secrets.X: set exactly one of ssm_parameter and secret"},
		{"secret listed twice", func(c *plbastack.Config) {
			c.Secrets = map[string]plbastack.SecretRef{"X": {Env: "PLBA_X__Y", Secret: "s", Functions: []string{"worker", "worker"}}}
		}, "secrets.X.functions: worker is listed twice"},
		{"secret on a manifest variable", func(c *plbastack.Config) {
			c.Secrets = map[string]plbastack.SecretRef{"X": {Env: envIMAPAddr, Secret: "s", Functions: []string{"worker"}}}
		}, "secrets.X.env " + envIMAPAddr + " is already set by the stack, the manifest or environment"},
		{"environment override", func(c *plbastack.Config) { c.Environment = map[string]string{"PLBA_QUEUE_URL": "x"} },
			"environment: PLBA_QUEUE_URL is set by the stack or by Lambda and cannot be overridden"},
		{"environment over the manifest", func(c *plbastack.Config) { c.Environment = map[string]string{envIMAPMode: "idle"} },
			"environment: " + envIMAPMode + " is set by the application's manifest (environment) and cannot be overridden"},
		{"two topics", func(c *plbastack.Config) {
			c.Alarms.TopicARN, c.Alarms.CreateTopic = "arn:aws:sns:eu-west-1:111122223333:t", true
		}, "alarms.topic_arn and alarms.create_topic exclude each other"},
		{"emails without topic", func(c *plbastack.Config) { c.Alarms.Emails = []string{"ops@example.com"} },
			"alarms.emails needs alarms.create_topic: true"},
		{"expiry warning beyond retention", func(c *plbastack.Config) { c.Alarms.DeadLetterExpiryWarning = plbastack.Duration(400 * time.Hour) },
			"alarms.dead_letter_expiry_warning (400h0m0s) must be at least 1h and below queue.dlq_retention (336h0m0s)"},
		{"metrics namespace not overridable", func(c *plbastack.Config) { c.Environment = map[string]string{plbastack.EnvMetricsNamespace: "x"} },
			"environment: " + plbastack.EnvMetricsNamespace + " is set by the stack or by Lambda and cannot be overridden"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t)
			tc.edit(&cfg)
			app := newApp(t, nil)
			st, err := plbastack.New(app, cfg)
			if err == nil {
				t.Fatalf("New succeeded (stack %v), want an error containing %q", st, tc.msg)
			}
			var ve *plbastack.ValidationError
			if !errors.Is(err, plbastack.ErrInvalidConfig) || !errors.As(err, &ve) {
				t.Errorf("error %v is not a ValidationError wrapping ErrInvalidConfig", err)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error\n%v\ndoes not contain\n%s", err, tc.msg)
			}
			if n := len(*app.Node().Children()); n != 0 {
				t.Errorf("app has %d children after a failed New, want 0", n)
			}
		})
	}
}

func TestMissingAssetsFailWithHint(t *testing.T) {
	cfg := testConfig(t)
	cfg.AssetDir = t.TempDir()
	_, err := plbastack.New(newApp(t, nil), cfg)
	if !errors.Is(err, plbastack.ErrAssetsMissing) {
		t.Fatalf("err = %v, want ErrAssetsMissing", err)
	}
	for _, want := range []string{"run `make lambdas`", "poller/bootstrap", "worker/bootstrap", "control/bootstrap"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestConfigFromContext(t *testing.T) {
	app := newApp(t, map[string]any{
		"stage": "prod", "appsDir": "../../apps", "assetDir": assetDir,
		"account": "111122223333", "region": "eu-central-1",
	})
	cfg, err := plbastack.ConfigFromContext(app)
	if err != nil {
		t.Fatal(err)
	}
	// prod.yaml overrides these three keys of default.yaml.
	if cfg.Stage != "prod" || !cfg.Table.DeletionProtection || cfg.Logs.RetentionDays != 90 || cfg.Worker.MaxConcurrency != 20 {
		t.Errorf("prod config not applied: %+v", cfg)
	}
	if cfg.AssetDir != assetDir || cfg.Account != "111122223333" || cfg.Region != "eu-central-1" {
		t.Errorf("context overrides not applied: asset %q account %q region %q", cfg.AssetDir, cfg.Account, cfg.Region)
	}
	if cfg.Queue.VisibilityTimeout != plbastack.Duration(180*time.Second) {
		t.Errorf("default.yaml value lost: visibility %v", cfg.Queue.VisibilityTimeout)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("shipped prod config is invalid: %v", err)
	}

	bad := newApp(t, map[string]any{"stage": 7})
	if _, err := plbastack.ConfigFromContext(bad); !errors.Is(err, plbastack.ErrInvalidConfig) {
		t.Errorf("non-string stage: err = %v", err)
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// alarms.create_topic adds a topic with the e-mail subscriptions, and every
// alarm notifies it; dashboard.enabled and tracing.active switch off.
func TestCreatedAlarmTopicAndSwitches(t *testing.T) {
	cfg := testConfig(t)
	cfg.Alarms.CreateTopic = true
	cfg.Alarms.Emails = []string{"ops@example.com", "oncall@example.com"}
	cfg.Dashboard.Enabled = false
	cfg.Tracing.Active = false
	s := synth(t, cfg)
	topicID, _ := s.one(t, "AWS::SNS::Topic", func(map[string]any) bool { return true })
	must(t, "subscriptions", func() {
		s.tmpl.ResourcePropertiesCountIs(jsii.String("AWS::SNS::Subscription"), map[string]any{
			"Protocol": "email", "TopicArn": map[string]any{"Ref": topicID},
		}, jsii.Number(2))
	})
	must(t, "alarm actions", func() {
		s.tmpl.ResourcePropertiesCountIs(jsii.String("AWS::CloudWatch::Alarm"), map[string]any{
			"AlarmActions": []any{map[string]any{"Ref": topicID}},
		}, jsii.Number(9))
	})
	must(t, "no dashboard", func() { s.tmpl.ResourceCountIs(jsii.String("AWS::CloudWatch::Dashboard"), jsii.Number(0)) })
	for _, fn := range []string{"plba-test-poller", "plba-test-worker"} {
		_, f := s.one(t, "AWS::Lambda::Function", func(p map[string]any) bool { return p["FunctionName"] == fn })
		if f["TracingConfig"] != nil {
			t.Errorf("%s traced with tracing.active off: %v", fn, f["TracingConfig"])
		}
	}
}
