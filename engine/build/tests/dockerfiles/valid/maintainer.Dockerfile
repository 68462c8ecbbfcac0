FROM alpine
MAINTAINER Jane Doe <jane@example.invalid>
