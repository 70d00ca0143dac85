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
DEB_TEST   := xvfb xauth dbus-x11 xdotool x11-utils imagemagick chromium wine wine64 gcc-mingw-w64-x86-64 prometheus

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
	ESMON_TEST_STRICT=1 $(GO) test -timeout 20m ./ui/... ./app/... ./webui/... ./test/... ./bench/...

## fuzz: every Fuzz* test in the tree, FUZZTIME each (default 30s), found
## with `go test -list`; a crasher stops the run and is saved under its
## package's testdata/fuzz, where it stays as a regression test
FUZZTIME ?= 30s

.PHONY: fuzz
fuzz:
	@set -e; for dir in $$(grep -rl --include='*_test.go' --exclude-dir=node_modules '^func Fuzz' . | xargs -n1 dirname | sort -u); do \
	  for f in $$($(GO) test -list 'Fuzz.*' $$dir | grep '^Fuzz'); do \
	    echo "== fuzz $$dir $$f for $(FUZZTIME)"; \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$dir; \
	  done; \
	done

vet: webui
	$(GO) vet ./...
	CGO_ENABLED=0 $(GO) vet -tags headless ./app

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

deps-build:
	@packaging/apt-ensure.sh $(DEB_BUILD)

deps-test: deps-build deps-pkg
	@packaging/apt-ensure.sh $(DEB_TEST)
	@[ -x $(GOBIN)/mailpit ] || { echo "installing mailpit (SMTP server for tests)"; $(GO) install $(MAILPIT); }
	$(GO) mod download

## load-agents: N simulated agents against a running core (issue 10):
##   make load-agents JOIN_CODE=esmon1_... AGENTS=10000   (a join code with at least AGENTS uses;
##   SERIES=N pads each agent to N series, JSON=FILE writes the final report)
## load-dashboards: N /ws/live subscribers recording each update's delay:
##   make load-dashboards CORE=https://127.0.0.1:8470 TOKEN_FILE=DATA/admin.token FINGERPRINT=pin SUBSCRIBERS=1000
AGENTS      ?= 1000
SUBSCRIBERS ?= 1000
INTERVAL    ?= 5s
DURATION    ?= 2m
SERIES      ?= 0
JSON        ?=
load-agents: build-headless
	$(BIN)/esmon-agent simulate --agents $(AGENTS) --join-code $(JOIN_CODE) --interval $(INTERVAL) --duration $(DURATION) --series $(SERIES) $(if $(JSON),--json $(JSON))

load-dashboards:
	$(GO) build -o $(BIN)/liveload ./test/liveload
	$(BIN)/liveload --subscribers $(SUBSCRIBERS) --core $(CORE) --token-file $(TOKEN_FILE) --duration $(DURATION) $(if $(FINGERPRINT),--fingerprint $(FINGERPRINT))

## bench-scale: issue 10's scale ladder on loopback (fresh core per step, 2,000
## rules, N simulated agents, N/10 live dashboards, restart under load at the top
## step); figures in SCALE_OUT/scale.csv and scale.json
## bench-plots: the PNGs of bench/results from the last bench-scale run
SCALE_OUT   ?= /tmp/esmon-scale
SCALE_STEPS ?= 100,500,1000,2000,5000,10000
.PHONY: bench-scale bench-plots
bench-scale: build-headless
	$(GO) build -o $(BIN)/liveload ./test/liveload
	nice -n 5 $(GO) run ./bench/scale --bin $(BIN) --out $(SCALE_OUT) --steps $(SCALE_STEPS)
bench-plots:
	$(GO) run ./bench/plot --csv $(SCALE_OUT)/scale.csv --out bench/results

clean:
	rm -rf $(BIN) webui/dist webui/node_modules $(JMX_JAR)

# ---- Packaging: make dist VERSION=x.y.z, make sign, msi, deb, rpm --------
# What each file in dist/ is, and how operators install them: INSTALL.md.
# The package tests (test/pkg, run by make test) build the agent's MSI, deb
# and rpm themselves with the same scripts.
DIST          := dist
DIST_VERSION   = $(patsubst v%,%,$(VERSION))
TOOLS         := $(shell $(GO) env GOPATH)/tools
# nfpm 2.46 and later need modules the Go proxy here does not serve.
NFPM_VERSION  := v2.45.2
export NFPM   := $(TOOLS)/nfpm-$(NFPM_VERSION)/nfpm
FYNE_VERSION  := v1.7.4
export FYNE   := $(TOOLS)/fyne-$(FYNE_VERSION)/fyne
DEB_PKG       := wixl msitools osslsigncode rpm gcc-mingw-w64-x86-64 systemd init-system-helpers
DIST_ARCHES   := linux/amd64 linux/arm64 windows/amd64

.PHONY: dist dist-check dist-bin dist-console msi deb rpm sign deps-pkg

$(NFPM):
	GOBIN=$(dir $@) $(GO) install github.com/goreleaser/nfpm/v2/cmd/nfpm@$(NFPM_VERSION)

$(FYNE):
	GOBIN=$(dir $@) $(GO) install fyne.io/tools/cmd/fyne@$(FYNE_VERSION)

## deps-pkg: what building and testing the packages needs
deps-pkg: $(NFPM)
	@packaging/apt-ensure.sh $(DEB_PKG)

## dist: every artefact of a release in dist/, with SHA256SUMS
dist: dist-check deps-build deps-pkg $(FYNE) webui jmx-bridge
	rm -rf $(DIST) && mkdir -p $(DIST)
	$(MAKE) --no-print-directory dist-bin msi deb rpm dist-console
	cd $(DIST) && sha256sum $$(ls | grep -v SHA256SUMS) > SHA256SUMS

dist-check:
	@[[ "$(DIST_VERSION)" =~ ^[0-9]+\.[0-9]+\.[0-9]+$$ ]] || { echo "make dist needs VERSION=x.y.z (got $(VERSION))"; exit 2; }

## dist-bin: the agent and the headless core, static, for each of DIST_ARCHES
dist-bin: webui jmx-bridge
	@mkdir -p $(DIST)
	set -e; for p in $(DIST_ARCHES); do \
	  os=$${p%/*} arch=$${p#*/} ext=; [ $$os = windows ] && ext=.exe; \
	  CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(DIST)/esmon-agent_$(DIST_VERSION)_$${os}_$$arch$$ext ./agentsvc; \
	  CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -tags headless -ldflags '$(LDFLAGS)' -o $(DIST)/esmon-serve_$(DIST_VERSION)_$${os}_$$arch$$ext ./app; \
	done

## msi: the agent's Windows installer (packaging/wix), from dist-bin's agent
msi: dist-check deps-pkg
	@[ -f $(DIST)/esmon-agent_$(DIST_VERSION)_windows_amd64.exe ] || $(MAKE) --no-print-directory dist-bin
	packaging/build-msi.sh $(DIST_VERSION) $(DIST)/esmon-agent_$(DIST_VERSION)_windows_amd64.exe $(DIST)/esmon-agent_$(DIST_VERSION)_x64.msi

## deb, rpm: esmon-agent and esmon-core (headless) for amd64 and arm64
deb rpm: dist-check deps-pkg
	@[ -f $(DIST)/esmon-agent_$(DIST_VERSION)_linux_arm64 ] || $(MAKE) --no-print-directory dist-bin
	set -e; for arch in amd64 arm64; do \
	  packaging/build-linux-pkg.sh agent $$arch $@ $(DIST)/esmon-agent_$(DIST_VERSION)_linux_$$arch $(DIST_VERSION) $(DIST); \
	  packaging/build-linux-pkg.sh core $$arch $@ $(DIST)/esmon-serve_$(DIST_VERSION)_linux_$$arch $(DIST_VERSION) $(DIST); \
	done

## dist-console: the console for Linux (fyne package archive) and Windows (mingw)
dist-console: dist-check deps-build $(FYNE) webui
	packaging/build-console.sh linux $(DIST_VERSION) $(COMMIT) $(DIST)/esmon_$(DIST_VERSION)_linux_amd64.tar.xz
	packaging/build-console.sh windows $(DIST_VERSION) $(COMMIT) $(DIST)/esmon_$(DIST_VERSION)_windows_amd64.exe

## sign: sign dist/'s Windows executables, rebuild the MSI around the signed
## agent, sign the MSI, renew SHA256SUMS. SIGN_CERT and SIGN_KEY are PEM
## files; SIGN_KEY_PASS_FILE and SIGN_TIMESTAMP (a URL) are optional.
sign: dist-check
	@[ -n "$(SIGN_CERT)" ] && [ -n "$(SIGN_KEY)" ] || { echo "make sign needs SIGN_CERT=cert.pem SIGN_KEY=key.pem"; exit 2; }
	packaging/sign.sh $(SIGN_CERT) $(SIGN_KEY) $(wildcard $(DIST)/*.exe)
	packaging/build-msi.sh $(DIST_VERSION) $(DIST)/esmon-agent_$(DIST_VERSION)_windows_amd64.exe $(DIST)/esmon-agent_$(DIST_VERSION)_x64.msi
	packaging/sign.sh $(SIGN_CERT) $(SIGN_KEY) $(DIST)/esmon-agent_$(DIST_VERSION)_x64.msi
	cd $(DIST) && sha256sum $$(ls | grep -v SHA256SUMS) > SHA256SUMS
