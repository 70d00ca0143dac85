# esmon — build, run and test. `make run` and `make test` work on a fresh
# Debian or Ubuntu machine: they install what is missing first.

SHELL      := /bin/bash
GO         ?= go
BIN        := bin
VERSION    ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT     ?= $(shell git rev-parse --short HEAD 2>/dev/null)
LDFLAGS    := -s -w -X main.Version=$(VERSION) -X main.Commit=$(COMMIT)
SUDO       := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
MAILPIT    := github.com/axllent/mailpit@v1.33.1
GOBIN      := $(shell $(GO) env GOPATH)/bin

# Debian packages: building the console (cgo, GLFW), and running the tests
# (a real X server, D-Bus session, screenshots, Chromium, Prometheus' promtool).
DEB_BUILD  := openjdk-17-jdk-headless gcc pkg-config libx11-dev libxcursor-dev libxrandr-dev libxinerama-dev libxi-dev libxxf86vm-dev libgl1-mesa-dev
DEB_TEST   := xvfb xauth dbus-x11 imagemagick chromium wine wine64 gcc-mingw-w64-x86-64 prometheus

# Packages whose tests start goroutines run under the race detector.
RACE_PKGS  := ./core/... ./agentsvc/... ./internal/...

.PHONY: all build build-headless run test deps-build deps-test deps-webui deps-jdk webui jmx-bridge vet fmt-check test-go load-agents load-dashboards clean

all: build

## build: the console (needs cgo) and the agent (static)
build: deps-build webui jmx-bridge
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/esmon ./app
	CGO_ENABLED=0 $(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/esmon-agent ./agentsvc

## build-headless: `esmon serve` without any GUI code, no cgo
build-headless: webui deps-jdk jmx-bridge
	CGO_ENABLED=0 $(GO) build -tags headless -ldflags '$(LDFLAGS)' -o $(BIN)/esmon-serve ./app
	CGO_ENABLED=0 $(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/esmon-agent ./agentsvc

## run: the console with its core and a local agent (headless without a display)
run:
	@if [ -n "$$DISPLAY$$WAYLAND_DISPLAY" ]; then $(MAKE) --no-print-directory build; else $(MAKE) --no-print-directory build-headless; fi
	@packaging/run-local.sh

## test: install what the tests need, then run every test
test: deps-test webui fmt-check vet test-go

## webui: the web page's bundle in webui/dist, which the binaries embed:
## npm ci from the committed lock file, then esbuild (webui/build.mjs)
WEBUI_SRC := $(wildcard webui/src/*) webui/build.mjs webui/package.json

webui: deps-webui webui/dist/index.html

webui/node_modules/.package-lock.json: webui/package-lock.json
	cd webui && npm ci --ignore-scripts --no-audit --no-fund

webui/dist/index.html: webui/node_modules/.package-lock.json $(WEBUI_SRC)
	cd webui && npm run --silent build

## jmx-bridge: the JMX bridge (agentsvc/jmx/java) as Java 8 bytecode, since
## WebSphere 9 runs Java 8, in the jar that go build embeds in esmon-agent
JMX_JAR := agentsvc/jmx/dist/esmon-jmx.jar
JMX_SRC := $(wildcard agentsvc/jmx/java/esmon/jmx/*.java)

jmx-bridge: $(JMX_JAR)

$(JMX_JAR): $(JMX_SRC)
	@command -v javac >/dev/null || { echo "javac not found: make deps-jdk installs a JDK"; exit 1; }
	rm -rf $(BIN)/jmx-classes
	javac --release 8 -Xlint:all -Xlint:-options -Werror -d $(BIN)/jmx-classes $(JMX_SRC)
	jar cfe $@.tmp esmon.jmx.Bridge -C $(BIN)/jmx-classes .
	mv $@.tmp $@

deps-jdk:
	@command -v javac >/dev/null || packaging/apt-ensure.sh openjdk-17-jdk-headless

deps-webui:
	@command -v npm >/dev/null || packaging/apt-ensure.sh nodejs npm

test-go: webui jmx-bridge
	ESMON_TEST_STRICT=1 $(GO) test -race -timeout 20m $(RACE_PKGS)
	ESMON_TEST_STRICT=1 $(GO) test -timeout 20m ./ui/... ./app/... ./webui/... ./test/...

vet: webui
	$(GO) vet ./...
	CGO_ENABLED=0 $(GO) vet -tags headless ./app

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

deps-build:
	@packaging/apt-ensure.sh $(DEB_BUILD)

deps-test: deps-build
	@packaging/apt-ensure.sh $(DEB_TEST)
	@[ -x $(GOBIN)/mailpit ] || { echo "installing mailpit (SMTP server for tests)"; $(GO) install $(MAILPIT); }
	$(GO) mod download

## load-agents: N simulated agents against a running core (issue 10):
##   make load-agents CORE=https://127.0.0.1:8470 TOKEN_FILE=agent.token AGENTS=10000
## load-dashboards: N /ws/live subscribers recording each update's delay:
##   make load-dashboards CORE=https://127.0.0.1:8470 TOKEN_FILE=admin.token SUBSCRIBERS=1000
AGENTS      ?= 1000
SUBSCRIBERS ?= 1000
INTERVAL    ?= 5s
DURATION    ?= 2m
load-agents: build-headless
	$(BIN)/esmon-agent simulate --agents $(AGENTS) --core $(CORE) --token-file $(TOKEN_FILE) --interval $(INTERVAL) --duration $(DURATION)

load-dashboards:
	$(GO) build -o $(BIN)/liveload ./test/liveload
	$(BIN)/liveload --subscribers $(SUBSCRIBERS) --core $(CORE) --token-file $(TOKEN_FILE) --duration $(DURATION) $(if $(FINGERPRINT),--fingerprint $(FINGERPRINT))

clean:
	rm -rf $(BIN) webui/dist webui/node_modules $(JMX_JAR)
