package main

import (
	"log/slog"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/gomsm/msm/core"
	"github.com/gomsm/msm/examples/internal/shop"
	"github.com/gomsm/msm/examples/internal/shoptest"
)

func TestShop(t *testing.T) {
	gin.SetMode(gin.TestMode)
	m, err := core.New(core.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	shoptest.Run(t, shop.Router(m))
}
