FROM alpine
LABEL version="1.0" "com.example.vendor"="ACME Inc"
LABEL description="multi \
 line"
LABEL legacy value with spaces
