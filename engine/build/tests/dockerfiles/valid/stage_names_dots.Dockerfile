FROM alpine AS my-stage.v1_x
FROM my-stage.v1_x
