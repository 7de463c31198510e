module github.com/gomsm/msm/chaos

go 1.26.0

require github.com/gomsm/msm/core v0.1.0

require (
	github.com/bradfitz/gomemcache v0.0.0-20260422231931-4d751bb6e37c // indirect
	github.com/fxamacker/cbor/v2 v2.10.0 // indirect
	github.com/gomsm/msm/codec v0.1.0 // indirect
	github.com/x448/float16 v0.8.4 // indirect
	golang.org/x/sync v0.25.0 // indirect
)

// Inside this repository the sibling modules are used as they are.
replace (
	github.com/gomsm/msm/codec => ../codec
	github.com/gomsm/msm/core => ../core
)
