FROM alpine base
