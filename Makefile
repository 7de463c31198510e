# gomsm: every module of go.work is vetted and tested with the race detector.
MODULES := $(shell go list -m -f '{{.Dir}}' 2>/dev/null)
PKGS := $(shell go list -m -f '{{.Path}}/...' 2>/dev/null)

.PHONY: test vet fmt bench fuzz chaos chaos-short stress-test

# The tests wait on memcached and on timers far more than they compute, so
# more of them run at once than there are cores (-parallel).
TESTFLAGS := -race -count=1 -timeout 8m -parallel 8

# The chaos module runs apart, verbose, so that its table shows in the log.
test: fmt vet
	go test $(TESTFLAGS) $(filter-out github.com/gomsm/msm/chaos/...,$(PKGS))
	$(MAKE) chaos-short

# chaos-short: the chaos test's short form, one 5 s run of each scenario
# and mode (about 50 s). chaos: the long form, five 10 s runs of each
# (about 8 min). Both need memcached in PATH; see docs/failover.md. No
# -race: gomsm runs in the test's server processes, and the race detector
# in the test process (users, balancer) would cut the load, and with it
# the faults' bite, about fivefold.
chaos-short:
	go test -count=1 -timeout 10m -v -run '^TestChaos$$' ./chaos/

chaos:
	go test -count=1 -timeout 60m -v -run '^TestChaos$$' ./chaos/ -args -chaos.runs=5 -chaos.duration=10s

# stress-test: N copies of the whole suite at once beside M busy loops, R
# rounds; prints passes and failures per test. Defaults N=3 M=4 R=5, e.g.
# make stress-test N=2 M=2 R=1. See scripts/stress.sh.
N ?= 3
M ?= 4
R ?= 5
stress-test:
	N=$(N) M=$(M) R=$(R) scripts/stress.sh $(filter-out github.com/gomsm/msm/chaos/...,$(PKGS))

vet:
	go vet $(PKGS)

fmt:
	@out=$$(gofmt -l $(MODULES)); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

bench:
	go test -run '^$$' -bench . -benchmem $(PKGS)

# Load comparison of gomsm with other Go session managers (real memcached,
# real HTTP servers on loopback); pass flags with BENCH_FLAGS, e.g.
# make bench-load BENCH_FLAGS="-writes 0 -rounds 5". See docs/performance.md.
.PHONY: bench-load
bench-load:
	go run ./bench $(BENCH_FLAGS)

# demo: the failover story of examples/cluster on this machine. It needs
# memcached in PATH (unless MSM_NODES names your own nodes); as root on
# Debian/Ubuntu it installs it, otherwise it says what to install.
.PHONY: demo
demo:
	@if [ -z "$$MSM_NODES" ] && ! command -v memcached >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "memcached is missing: installing it with apt-get"; \
			apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y memcached || exit 1; \
		else \
			echo "make demo needs memcached in PATH. Install it, then run make demo again:"; \
			echo "  Debian/Ubuntu: sudo apt-get install -y memcached"; \
			echo "  macOS:         brew install memcached"; \
			echo "or point the demo at your own nodes: MSM_NODES=n1:host:11211,n2:host:11212 make demo"; \
			exit 1; \
		fi; \
	fi
	go run ./examples/cluster
