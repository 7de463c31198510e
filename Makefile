# gomsm: every module of go.work is vetted and tested with the race detector.
MODULES := $(shell go list -m -f '{{.Dir}}' 2>/dev/null)
PKGS := $(shell go list -m -f '{{.Path}}/...' 2>/dev/null)

.PHONY: test vet fmt bench fuzz

test: fmt vet
	go test -race -count=1 -timeout 8m $(PKGS)

vet:
	go vet $(PKGS)

fmt:
	@out=$$(gofmt -l $(MODULES)); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

bench:
	go test -run '^$$' -bench . -benchmem $(PKGS)
