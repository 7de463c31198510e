module github.com/gomsm/msm/core

go 1.26.0

require (
	github.com/bradfitz/gomemcache v0.0.0-20260422231931-4d751bb6e37c
	github.com/gomsm/msm/codec v0.1.0
	golang.org/x/sync v0.25.0
)

require (
	github.com/fxamacker/cbor/v2 v2.10.0 // indirect
	github.com/x448/float16 v0.8.4 // indirect
)

// Inside this repository the sibling module is used as it is.
replace github.com/gomsm/msm/codec => ../codec
