FROM alpine
COPY <<EOF
hi
EOF
