module github.com/gomsm/msm/echomsm

go 1.26.0

require (
	github.com/gomsm/msm/core v0.1.0
	github.com/labstack/echo/v4 v4.16.0
)

require (
	github.com/bradfitz/gomemcache v0.0.0-20260422231931-4d751bb6e37c // indirect
	github.com/fxamacker/cbor/v2 v2.10.0 // indirect
	github.com/gomsm/msm/codec v0.1.0 // indirect
	github.com/labstack/gommon v0.5.0 // indirect
	github.com/mattn/go-colorable v0.1.15 // indirect
	github.com/mattn/go-isatty v0.0.22 // indirect
	github.com/valyala/bytebufferpool v1.0.0 // indirect
	github.com/valyala/fasttemplate v1.2.2 // indirect
	github.com/x448/float16 v0.8.4 // indirect
	golang.org/x/crypto v0.53.0 // indirect
	golang.org/x/net v0.56.0 // indirect
	golang.org/x/sync v0.25.0 // indirect
	golang.org/x/sys v0.48.0 // indirect
	golang.org/x/text v0.40.0 // indirect
	golang.org/x/time v0.15.0 // indirect
)

// Inside this repository the sibling modules are used as they are.
replace (
	github.com/gomsm/msm/codec => ../codec
	github.com/gomsm/msm/core => ../core
)
