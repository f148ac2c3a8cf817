# PLBA — see README.md. `make run` and `make test` are the two commands a
# fresh Debian machine (as root) needs.

SHELL := /bin/bash
GO ?= go
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
# Go test flags; CI runs everything with the race detector.
TESTFLAGS ?= -race -count=1 -timeout 15m
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/plba/plba/pkg/runner.Version=$(VERSION)
LAMBDAS := poller worker control

.PHONY: run build test test-go test-infra lint bench chaos services services-stop deps lambdas synth diff deploy destroy fuzz clean

## run: the mail order bot demo (embedded IMAP server, SQLite store, control plane on 127.0.0.1:8080)
run:
	$(GO) run -ldflags "$(LDFLAGS)" ./local run $(ARGS)

## build: the local runner, bin/plba
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/plba ./local

## deps: install what the tests need (Debian packages, npm packages); idempotent
deps:
	scripts/services.sh install

## services: start the test services on 127.0.0.1 (idempotent)
services:
	scripts/services.sh start

## services-stop: stop the test services (by PID)
services-stop:
	scripts/services.sh stop

## test: install, start services, lint, run every test
test: deps services lint test-go test-infra

test-go:
	$(GO) test $(TESTFLAGS) ./...

test-infra:
	infra/scripts/test.sh

## lint: go vet and staticcheck (pinned as a go.mod tool)
lint:
	$(GO) vet ./...
	$(GO) tool staticcheck ./...
	cd infra && $(GO) vet ./...

## bench: the speed targets
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./pkg/workers/ ./pkg/queue/... ./pkg/lambda/... ./pkg/source/imapsource/... ./apps/mailorderbot/...

## chaos: fault scenarios against real processes and servers (one figures line each);
## CHAOS_LONG=1 for more mail and the soak
chaos:
	@mkdir -p var; PLBA_CHAOS=$(if $(CHAOS_LONG),long,short) $(GO) test -count=1 -v -timeout 30m ./chaos/ 2>&1 | tee var/chaos.log | grep -E '^(chaos:|--- FAIL|FAIL|ok|panic)'; \
		exit $${PIPESTATUS[0]}

## fuzz: run each fuzz target for a while (FUZZTIME, default 30s)
FUZZTIME ?= 30s
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime $(FUZZTIME) ./apps/mailorderbot/mailparse/
	$(GO) test -run '^$$' -fuzz FuzzMerge -fuzztime $(FUZZTIME) ./pkg/config/
	$(GO) test -run '^$$' -fuzz FuzzDecodeFast -fuzztime $(FUZZTIME) ./pkg/queue/sqsqueue/

## lambdas: bin/lambda/<fn>/bootstrap for provided.al2023 on arm64
# Tags: lambda.norpc (no net/rpc runtime, provided.al2023), plba_lambda (no
# SQLite, no demo IMAP server, AWS config from the environment only) and
# validator_novalidatefn (keeps the linker's method pruning; see
# docs/serverless.md). functions/size_test.go checks the same flags.
LAMBDA_TAGS := lambda.norpc,plba_lambda,validator_novalidatefn
lambdas:
	@for fn in $(LAMBDAS); do \
		echo "building bin/lambda/$$fn/bootstrap"; \
		GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build -tags $(LAMBDA_TAGS) -trimpath -ldflags "$(LDFLAGS)" \
			-o bin/lambda/$$fn/bootstrap ./functions/$$fn || exit 1; \
	done
	@ls -l bin/lambda/*/bootstrap

## synth: CDK synth, offline
synth: lambdas
	infra/scripts/synth.sh

## diff / deploy / destroy: the pinned aws-cdk CLI against your AWS account
diff: lambdas
	infra/scripts/cdk.sh diff
deploy: lambdas
	infra/scripts/cdk.sh deploy
destroy:
	infra/scripts/cdk.sh destroy

clean:
	rm -rf bin dist infra/cdk.out
