# PLBA — see README.md. `make run` and `make test` are the two commands a
# fresh Debian machine (as root) needs.

SHELL := /bin/bash
GO ?= go
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
# Go test flags; CI runs everything with the race detector.
TESTFLAGS ?= -race -count=1 -timeout 15m
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/plba/plba/pkg/runner.Version=$(VERSION)
# APP limits lambdas, synth, diff, deploy and destroy to one application
# (apps/$(APP)/plba.app.yaml); lambdas builds every app's functions without
# it, the CDK targets deploy the bot (infra/cdk.json).
APP ?=
export APP

.PHONY: run build test test-go test-infra test-chaos lint bench chaos services services-stop deps lambdas lambdas-host synth diff deploy destroy fuzz screenshot clean

## run: the mail order bot demo (embedded IMAP server, SQLite store, control plane on 127.0.0.1:8080)
# exec: plba itself is make's child, so Ctrl-C ends make with plba's exit
# status (0 after a graceful stop); `go run` would turn it into 1.
run: build
	exec bin/plba run $(ARGS)

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
test: deps services lint test-go test-infra test-chaos

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
	$(GO) test -run '^$$' -bench BurstToSeen/paired -benchtime 1x -count 6 ./local/

## chaos: fault scenarios against real processes and servers (one figures line each);
## CHAOS_LONG=1 for more mail. CHAOS_RUN selects scenarios (a go test -run pattern).
CHAOS_RUN ?= .
chaos:
	@mkdir -p var; PLBA_CHAOS=$(if $(CHAOS_LONG),long,short) $(GO) test -count=1 -v -timeout 30m -run '$(CHAOS_RUN)' ./chaos/ 2>&1 | tee var/chaos.log | grep -E '^(chaos:|--- FAIL|FAIL|ok|panic)'; \
		exit $${PIPESTATUS[0]}

# The short chaos run that make test includes (<= 3 min): every scenario,
# at its short size. The soak (TestChaosSoak) runs only with CHAOS_LONG=1.
CHAOS_SHORT := TestChaos(Kill9|Sigterm|DovecotRestart|PoisonLocal|PoisonSplit|WorkerKilledMidBatch|TwoProcessesRedis)
test-chaos:
	@$(MAKE) --no-print-directory chaos CHAOS_RUN='$(CHAOS_SHORT)'

## screenshot: refresh docs/img/status-page.png, taken by the status page's browser test (needs chromium)
screenshot:
	PLBA_UPDATE_SCREENSHOT=1 $(GO) test -count=1 -run '^TestStatusPageDemo$$' ./local/

## fuzz: run each fuzz target for a while (FUZZTIME, default 30s)
FUZZTIME ?= 30s
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime $(FUZZTIME) ./apps/mailorderbot/mailparse/
	$(GO) test -run '^$$' -fuzz FuzzMerge -fuzztime $(FUZZTIME) ./pkg/config/
	$(GO) test -run '^$$' -fuzz FuzzDecodeFast -fuzztime $(FUZZTIME) ./pkg/queue/sqsqueue/

## lambdas: bin/lambda/<app>/<fn>/bootstrap for provided.al2023 on arm64, every app's functions (APP=name: one app's)
## lambdas-host: the same for this machine (bin/lambda-host/<app>/<fn>/bootstrap), what `plba invoke` runs
# The functions and their main packages come from apps/*/plba.app.yaml
# (internal/appmanifest/list prints "app fn main" lines).
# Tags: lambda.norpc (no net/rpc runtime, provided.al2023), plba_lambda (no
# SQLite, no demo IMAP server, AWS config from the environment only) and
# validator_novalidatefn (keeps the linker's method pruning; see
# docs/serverless.md). functions/size_test.go checks the same flags.
LAMBDA_TAGS := lambda.norpc,plba_lambda,validator_novalidatefn
# lambda-build GOOS,GOARCH,DIR
define lambda-build
	@set -o pipefail; $(GO) run ./internal/appmanifest/list $(APP) | while read -r app fn main; do \
		echo "building $(3)/$$app/$$fn/bootstrap ($$main, $(1)/$(2))"; \
		GOOS=$(1) GOARCH=$(2) CGO_ENABLED=0 $(GO) build -tags $(LAMBDA_TAGS) -trimpath -ldflags "$(LDFLAGS)" \
			-o $(3)/$$app/$$fn/bootstrap $$main || exit 1; \
	done
	@ls -l $(3)/*/*/bootstrap
endef
lambdas:
	$(call lambda-build,linux,arm64,bin/lambda)
lambdas-host:
	$(call lambda-build,$(shell $(GO) env GOHOSTOS),$(shell $(GO) env GOHOSTARCH),bin/lambda-host)

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
